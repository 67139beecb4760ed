"""An independent signer/verifier of the CloudEvents Verifiability extension, written from the
spec text only (cloudevents/extensions/verifiability.md, DSSE v1.0.2), for interop tests.

    python sign_event.py sign   < {"event": {...}, "seed": "<hex>", "keyid": "...", "signedextattrs": [...]}
    python sign_event.py verify < {"event": {... "dssematerial": ...}, "keys": {"<keyid>": "<hex raw public key>"}}

`event` is a JSON-format CloudEvent whose data is `data_base64` (or a `data` string, taken
as UTF-8), so the bytes are exact. Sign prints {"dssematerial": ...}; verify prints
{"verified": true, "keyid": ..., "signedextattrs": [...]} or {"verified": false, "error": ...}
and exits 1. Ed25519 only; extension values are String, Boolean or Integer.
"""

import base64
import hashlib
import json
import re
import sys
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PAYLOAD_TYPE = "https://cloudevents.io/verifiability/dsse/v0.1"
CORE = ["id", "source", "specversion", "type", "datacontenttype", "dataschema", "subject", "time"]


def sha(b):
    return hashlib.sha256(b).digest()


def zulu(text):
    # Drop the fraction first (truncation, never rounding), then let fromisoformat read the rest.
    text = re.sub(r"\.\d+", "", text, count=1).replace("z", "Z").replace("t", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def value_bytes(v):
    if v is True:
        return b"true"
    if v is False:
        return b"false"
    if isinstance(v, int):
        return str(v).encode()
    if isinstance(v, str):
        return v.encode("utf-8")
    raise ValueError("unsupported extension value")


def data_of(event):
    if "data_base64" in event:
        return base64.b64decode(event["data_base64"])
    return event.get("data", "").encode("utf-8")


def material(event, signed):
    seq = b""
    for name in CORE:
        v = event.get(name)
        if not v:
            seq += sha(b"")
        elif name == "time":
            seq += sha(zulu(v).encode())
        else:
            seq += sha(v.encode("utf-8"))
    seq += sha(data_of(event))
    out = {"core": base64.b64encode(sha(seq)).decode()}
    if signed:
        ext = b"".join(sha(b"") if event.get(n) is None else sha(value_bytes(event[n])) for n in signed)
        out["ext"] = base64.b64encode(sha(ext)).decode()
        out["signedextattrs"] = list(signed)
    return out


def check_names(names):
    if len(set(names)) != len(names) or any(n in CORE or n == "dssematerial" for n in names):
        raise ValueError("invalid signedextattrs")


def pae(body):
    t = PAYLOAD_TYPE.encode()
    return b"DSSEv1 " + str(len(t)).encode() + b" " + t + b" " + str(len(body)).encode() + b" " + body


def b64any(text):
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def do_sign(req):
    signed = req.get("signedextattrs", [])
    check_names(signed)
    body = json.dumps(material(req["event"], signed)).encode()  # spaces on purpose: any JSON will do
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(req["seed"]))
    env = {"payload": base64.b64encode(body).decode(), "payloadType": PAYLOAD_TYPE,
           "signatures": [{"sig": base64.urlsafe_b64encode(key.sign(pae(body))).decode(), "keyid": req["keyid"]}]}
    return {"dssematerial": base64.b64encode(json.dumps(env, indent=1).encode()).decode()}


def do_verify(req):
    event = req["event"]
    if not event.get("dssematerial"):
        raise ValueError("unsigned")
    env = json.loads(b64any(event["dssematerial"]).decode("utf-8"))
    if env["payloadType"] != PAYLOAD_TYPE:
        raise ValueError("unknown payloadType")
    body = b64any(env["payload"])
    got = json.loads(body)
    core = b64any(got["core"])
    if len(core) != 32:
        raise ValueError("bad core")
    if ("ext" in got) != ("signedextattrs" in got):
        raise ValueError("ext without signedextattrs or the reverse")
    signed = got.get("signedextattrs", [])
    check_names(signed)
    keyid = None
    for s in env["signatures"]:
        raw = req["keys"].get(s.get("keyid", ""))
        if raw is None:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(raw)).verify(b64any(s["sig"]), pae(body))
            keyid = s.get("keyid", "")
            break
        except Exception:  # noqa: BLE001 - any failure is "this signature does not verify"
            continue
    if keyid is None:
        raise ValueError("no valid signature by an acceptable key")
    mine = material(event, signed)
    if b64any(mine["core"]) != core:
        raise ValueError("core digest mismatch")
    if signed and b64any(mine["ext"]) != b64any(got["ext"]):
        raise ValueError("ext digest mismatch")
    return {"verified": True, "keyid": keyid, "signedextattrs": signed}


def main():
    req = json.load(sys.stdin)
    if sys.argv[1:] == ["sign"]:
        print(json.dumps(do_sign(req)))
        return 0
    try:
        print(json.dumps(do_verify(req)))
        return 0
    except Exception as exc:  # noqa: BLE001 - report any failure as "not verified"
        print(json.dumps({"verified": False, "error": f"{type(exc).__name__}: {exc}"}))
        return 1


if __name__ == "__main__":
    sys.exit(main())
