"""The Verifiability extension: a fixed vector, tampering, keys, rotation, the spec's own
vectors, and interop with an independent implementation (tests/interop/sign_event.py)."""

import base64
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from shared import verifiability as v
from shared.trust import Registry
from shared.verifiability import NotVerified

# RFC 8032 test 1 / RFC 8037 appendix A: a published key, so the key id below is checkable.
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
KEY = v.signing_key_from_seed(SEED)
KID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"  # RFC 8037 A.3 thumbprint
OTHER = v.signing_key_from_seed(bytes(32))

HEADERS = {
    "ce_specversion": "1.0", "ce_id": "0b6f5e2c-4d1a-4c8e-9f3b-2a7d6c5e4f10",
    "ce_source": "urn:exemplars:workspace", "ce_type": "vn.gov.monre.exemplars.evaluation.score_submitted.v1",
    "ce_time": "2026-03-14T09:26:53.589793Z", "content-type": "application/json",
    "ce_subject": "NOM-2026-U01-1", "ce_actor": "EV-07",
}
VALUE = '{"nomination_id":"NOM-2026-U01-1","evaluator_id":"EV-07","comment":"Mô hình tốt"}'.encode()
# Any change to digests, JSON layout, PAE, key id or base64 changes this string.
EXPECTED = (
    "eyJwYXlsb2FkVHlwZSI6Imh0dHBzOi8vY2xvdWRldmVudHMuaW8vdmVyaWZpYWJpbGl0eS9kc3NlL3YwLjEiLCJwYXlsb2FkIjoiZXlKamIz"
    "SmxJam9pTjJaM2VtWnFjeXR2ZVhoSE4xQnhVVGMxWXpkNFRWUjRTRE5yVDA4d2VuRm1TVzVWWnpGVlFrTlFaejBpTENKbGVIUWlPaUpOVFhW"
    "bGJVbGtjSFUxVTNaQ1prTmxabTF2WVRoV1kwbDJOMnBSY1VaNFNFdGhTV3N3TDJFelFVeFZQU0lzSW5OcFoyNWxaR1Y0ZEdGMGRISnpJanBi"
    "SW1GamRHOXlJbDE5Iiwic2lnbmF0dXJlcyI6W3sia2V5aWQiOiJrUHJLX3FteFZXYVlWQTl3d0JGNkl1bzN2Vnp6N1R4SENUd1hCeWdyUzRr"
    "Iiwic2lnIjoiNjlueFFiUGtpSW9ZU3NLZXJYZU5LR3Urd3VMd3I1eEdUUkU5djRRcWFFeUZaSDJiSWg1WHJiUlQ3MlZveHFJVzc5eW1xL0FN"
    "a3p5RnVCazdRZmZLQlE9PSJ9XX0="
)


def keys(*known):
    table = {v.key_id(k): (k.public_key() if hasattr(k, "public_key") else k) for k in known or (KEY,)}
    return table.get


def signed(headers=HEADERS, value=VALUE, key=KEY, ext=("actor",)):
    return {**headers, **v.sign_headers(headers, value, key, ext)}


def reason(headers, value=VALUE, lookup=None):
    with pytest.raises(NotVerified) as caught:
        v.verify_headers(headers, value, lookup or keys())
    return caught.value.reason


# ------------------------------------------------------------------ the fixed vector

def test_key_id_is_the_rfc_7638_thumbprint():
    assert v.key_id(KEY) == v.key_id(KEY.public_key()) == KID
    assert v.to_jwk(KEY) == {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                             "kid": KID, "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}


def test_fixed_event_signs_to_the_committed_material():
    assert v.sign_headers(HEADERS, VALUE, KEY, ("actor",)) == {"ce_dssematerial": EXPECTED}
    envelope = json.loads(base64.b64decode(EXPECTED))
    assert list(envelope) == ["payloadType", "payload", "signatures"]
    assert envelope["payloadType"] == "https://cloudevents.io/verifiability/dsse/v0.1"
    material = json.loads(base64.b64decode(envelope["payload"]))
    assert material["signedextattrs"] == ["actor"] and len(base64.b64decode(material["core"])) == 32


def test_fixed_vector_verifies():
    result = v.verify_headers({**HEADERS, "ce_dssematerial": EXPECTED}, VALUE, keys())
    assert result == v.Verified(KID, ("actor",), {"actor": "EV-07"})


def test_header_pairs_as_consumed_verify_too():
    pairs = [(name.upper() if name == "content-type" else name, val.encode()) for name, val in signed().items()]
    assert v.verify_headers(pairs, VALUE, keys()).keyid == KID


def test_pae_is_dsse_v1():
    assert v.pae("http://example.com/HelloWorld", b"hello world") == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


@pytest.mark.parametrize("raw, zulu", [
    ("2026-05-13T10:49:12.123456+01:00", "2026-05-13T09:49:12Z"),
    ("2026-05-13T09:49:12.999Z", "2026-05-13T09:49:12Z"),
    ("2026-05-13T09:49:12", "2026-05-13T09:49:12Z"),
    ("2020-06-18T19:24:53+02:00", "2020-06-18T17:24:53Z"),
    ("2020-06-18t17:24:53.123456789z", "2020-06-18T17:24:53Z"),
])
def test_time_is_normalized_to_zulu_seconds(raw, zulu):
    assert v.normalize_time(raw) == zulu


@pytest.mark.parametrize("value, type_, raw", [
    (True, None, b"true"), ("false", v.ExtType.BOOLEAN, b"false"), (7, None, b"7"),
    ("007", v.ExtType.INTEGER, b"7"), ("8J+koQ==", v.ExtType.BINARY, "🤡".encode()),
    ("2026-01-01T07:00:00+07:00", v.ExtType.TIMESTAMP, b"2026-01-01T00:00:00Z"), ("Lê", None, "Lê".encode()),
])
def test_canonical_values(value, type_, raw):
    assert v.canonical(value, type_) == raw


# ------------------------------------------------------------------ tampering

@pytest.mark.parametrize("change", [
    {"ce_time": "2026-03-14T09:26:54Z"},  # another second
    {"ce_actor": "EV-08"},  # the signed extension
    {"ce_source": "urn:exemplars:unit:U-01"},
    {"ce_type": "vn.gov.monre.exemplars.evaluation.conflict_declared.v1"},
    {"ce_id": "another"},
    {"content-type": "text/plain"},
    {"ce_dataschema": "urn:schema"},  # an attribute added
])
def test_tampered_attributes_are_detected(change):
    assert reason({**signed(), **change}) == v.DIGEST_MISMATCH


@pytest.mark.parametrize("name", ["ce_subject", "ce_time", "ce_actor", "content-type"])
def test_removed_attribute_is_detected(name):
    headers = signed()
    del headers[name]
    assert reason(headers) == v.DIGEST_MISMATCH


def test_altered_data_is_detected():
    assert reason(signed(), VALUE.replace(b"EV-07", b"EV-08")) == v.DIGEST_MISMATCH
    assert reason(signed(), VALUE + b" ") == v.DIGEST_MISMATCH  # bytes, not JSON meaning


def test_what_the_spec_leaves_unsigned():
    """Subseconds and extension attributes not named in signedextattrs are not covered."""
    headers = {**signed(), "ce_time": "2026-03-14T09:26:53.000001Z", "ce_traceparent": "forged"}
    assert v.verify_headers(headers, VALUE, keys()).signed_ext_values == {"actor": "EV-07"}


def test_unsigned_and_malformed():
    assert reason(HEADERS) == v.UNSIGNED
    assert reason({**HEADERS, "ce_dssematerial": ""}) == v.UNSIGNED
    assert reason({**HEADERS, "ce_dssematerial": "not base64!"}) == v.MALFORMED
    assert reason({**HEADERS, "ce_dssematerial": base64.b64encode(b"{nope").decode()}) == v.MALFORMED
    envelope = json.loads(base64.b64decode(EXPECTED))
    other_type = {**envelope, "payloadType": "application/vnd.in-toto+json"}
    assert reason({**HEADERS, "ce_dssematerial": base64.b64encode(json.dumps(other_type).encode()).decode()}) == v.MALFORMED


def test_repeated_header_is_refused():
    pairs = [(n, val.encode()) for n, val in signed().items()] + [("ce_source", b"urn:evil")]
    assert reason(pairs) == v.MALFORMED


def _forge(material: dict, key=KEY) -> str:
    """An envelope properly signed over an arbitrary payload (the spec's case 8 inputs)."""
    body = json.dumps(material).encode()
    sig = base64.b64encode(key.sign(v.pae(v.PAYLOAD_TYPE, body))).decode()
    envelope = {"payload": base64.b64encode(body).decode(), "payloadType": v.PAYLOAD_TYPE,
                "signatures": [{"keyid": v.key_id(key), "sig": sig}]}
    return base64.b64encode(json.dumps(envelope).encode()).decode()


@pytest.mark.parametrize("extra", [
    {"ext": "A" * 43 + "=", "signedextattrs": ["actor", "actor"]},  # 8a
    {"ext": "A" * 43 + "=", "signedextattrs": ["actor", "id"]},  # 8b
    {"ext": "A" * 43 + "=", "signedextattrs": ["dssematerial"]},  # 8c
    {"signedextattrs": ["actor"]},  # 8d
    {"ext": "A" * 43 + "="},  # 8e
    {"ext": "AAAA", "signedextattrs": ["actor"]},  # not 32 bytes
])
def test_signed_but_invalid_material_is_malformed(extra):
    core = base64.b64encode(v.core_digest(v.attributes_from_headers(HEADERS), VALUE)).decode()
    assert reason({**HEADERS, "ce_dssematerial": _forge({"core": core, **extra})}) == v.MALFORMED


@pytest.mark.parametrize("names", [["a", "a"], ["time"], ["dssematerial"], [""]])
def test_signing_refuses_invalid_extension_lists(names):
    with pytest.raises(ValueError):
        v.sign_headers(HEADERS, VALUE, KEY, names)


def test_unsupported_extension_value_is_refused():  # spec case 8f
    with pytest.raises(ValueError):
        v.sign({**v.attributes_from_headers(HEADERS), "meta": {"a": 1}}, VALUE, KEY, ("meta",))


# ------------------------------------------------------------------ keys

def test_unknown_key_and_bad_signature():
    assert reason(signed(key=OTHER)) == v.UNKNOWN_KEY
    # A key that claims our key id but is not ours: the signature cannot verify.
    assert reason(signed(key=OTHER), lookup=lambda kid: KEY.public_key()) == v.BAD_SIGNATURE
    envelope = json.loads(base64.b64decode(EXPECTED))
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()
    bad = base64.b64encode(json.dumps(envelope).encode()).decode()
    assert reason({**HEADERS, "ce_dssematerial": bad}) == v.BAD_SIGNATURE


def test_any_acceptable_signature_suffices():
    envelope = json.loads(base64.b64decode(EXPECTED))
    envelope["signatures"].insert(0, {"keyid": "someone-else", "sig": "AAAA"})
    material = base64.b64encode(json.dumps(envelope).encode()).decode()
    assert v.verify_headers({**HEADERS, "ce_dssematerial": material}, VALUE, keys()).keyid == KID


@pytest.mark.parametrize("fmt", ["pem", "jwk"])
def test_keys_save_and_load(tmp_path: Path, fmt):
    v.save_key(KEY, tmp_path / "private", fmt=fmt)
    v.save_key(KEY.public_key(), tmp_path / "public", fmt=fmt)
    assert (tmp_path / "private").stat().st_mode & 0o077 == 0
    private, public = v.load_key(tmp_path / "private"), v.load_key(tmp_path / "public")
    assert v.key_id(private) == v.key_id(public) == KID
    assert v.verify_headers(signed(key=private), VALUE, {KID: public}.get).keyid == KID


def test_jwk_whose_kid_lies_is_refused():
    with pytest.raises(ValueError):
        v.from_jwk({**v.to_jwk(KEY.public_key()), "kid": "x"})


OLD, NEW = v.signing_key_from_seed(b"\x01" * 32), v.signing_key_from_seed(b"\x02" * 32)
ROTATING = Registry.model_validate({"producers": [{
    "name": "workspace", "source": "urn:exemplars:workspace", "keys": [
        {"x": v.to_jwk(OLD)["x"], "valid_from": "2026-01-01T00:00:00Z", "valid_to": "2026-07-01T00:00:00Z"},
        {"x": v.to_jwk(NEW)["x"], "valid_from": "2026-06-01T00:00:00Z"}]}]})


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day + "T12:00:00+00:00")


def test_rotation_overlap_then_old_expires():
    source = HEADERS["ce_source"]
    assert v.verify_headers(signed(key=OLD), VALUE, ROTATING.verifying_keys(source, at("2026-03-01"))).keyid == v.key_id(OLD)
    assert reason(signed(key=NEW), lookup=ROTATING.verifying_keys(source, at("2026-03-01"))) == v.UNKNOWN_KEY
    for key in (OLD, NEW):  # the overlap: both
        assert v.verify_headers(signed(key=key), VALUE, ROTATING.verifying_keys(source, at("2026-06-15")))
    assert reason(signed(key=OLD), lookup=ROTATING.verifying_keys(source, at("2026-07-01"))) == v.UNKNOWN_KEY
    assert v.verify_headers(signed(key=NEW), VALUE, ROTATING.verifying_keys(source, at("2027-01-01")))


def test_a_key_is_acceptable_only_for_its_producers_source():
    headers = signed({**HEADERS, "ce_source": "urn:exemplars:council"}, key=NEW)
    assert reason(headers, lookup=ROTATING.verifying_keys("urn:exemplars:council", at("2026-06-15"))) == v.UNKNOWN_KEY


# ------------------------------------------------------------------ structured mode

def test_structured_mode_round_trip():
    body = {"specversion": "1.0", "id": "1", "source": "urn:exemplars:unit:U-01", "type": "t",
            "datacontenttype": "application/json", "unitid": "U-01", "data": {"a": [1, "ồ"]}}
    body.update(v.sign_structured(body, KEY, ("unitid",)))
    reread = json.loads(json.dumps(body, indent=2))  # pretty-printing is not tampering
    assert v.verify_structured(reread, keys()).signed_ext_values == {"unitid": "U-01"}
    reread["data"]["a"][0] = 2
    with pytest.raises(NotVerified, match="digest_mismatch"):
        v.verify_structured(reread, keys())


# ------------------------------------------------------------------ the spec's own vectors

class SpecKey:
    """The spec's ECDSA P-256 test key, duck-typed as a verifying key (raw r||s signatures)."""

    KEY = ec.EllipticCurvePublicNumbers(
        46950820868899156662930047687818585632848591499744589407958293238635476079160,
        5640078356564379163099075877009565129882514886557779369047442380624545832820, ec.SECP256R1()).public_key()

    def verify(self, sig: bytes, message: bytes) -> None:
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        self.KEY.verify(der, message, ec.ECDSA(hashes.SHA256()))


SPEC_KEYS = {"testkey": SpecKey()}.get
P = "eyJwYXlsb2FkVHlwZSI6Imh0dHBzOi8vY2xvdWRldmVudHMuaW8vdmVyaWZpYWJpbGl0eS9kc3NlL3YwLjEiLCJwYXlsb2FkIjoi"
CASE1 = P + ("NXh6NS9WdG94TkpWWWFZeG1MZUw2eEw5STZDYXY5UDNnb2g2cXlDWUdmUT0iLCJzaWduYXR1cmVzIjpbeyJrZXlpZCI6InRlc3Rr"
             "ZXkiLCJzaWciOiJ3WWo4YlJQWFlDSUxyeXdzUDdXR1VCd1RKc25aSFlYTUhpWEZtWWh1QkdhOU1ocDdYNHZFN1FBYkhXbytXZitj"
             "TURBYjN6dXlwRjVVbVdwZGtJUGppUT09In1dfQ==")
CASE5 = P + ("ZXlKamIzSmxJam9pY1VOVFpXbGFhMU1yYUVnNVYybERiR1p4Tm5Cc1puRlpUbFo1TW10MmVGZFNabTlDY2t4RmVtOUVhejBpZlE9"
             "PSIsInNpZ25hdHVyZXMiOlt7ImtleWlkIjoidGVzdGtleSIsInNpZyI6IkYyaXAweG1nSlgzdWdIWkM2dE1ycjdBMkVxYWkwOHJh"
             "R3JUd2R5aC9PR0RJSXJGN0J5TTJ5SVRMS3FOckYzZHpaR1IybzBDczlmRUJGZEx4Uk9VeUVRPT0ifV19")
CASE6A = P + ("ZXlKamIzSmxJam9pVEZSblVVdElSMmhsWnpaVU5EaDRjRWRIY2pWNlRtdGthSEF5TW10bGJscERUM0ZwWTBaMFNUUlRRVDBpTENK"
              "bGVIUWlPaUpyVlRGUU9HSkVZVVZ1ZVU1b1oyeFhlbVJVU2s1SWFEYzNhMmhPVjFOYVpXSkNWWGgxWmxaTk1uQlZQU0lzSW5OcFoy"
              "NWxaR1Y0ZEdGMGRISnpJanBiSW1WNGRHRWlYWDA5Iiwic2lnbmF0dXJlcyI6W3sia2V5aWQiOiJ0ZXN0a2V5Iiwic2lnIjoibHBP"
              "cHNqUnZ2NFBDb05zQUlSRFl1MXphWlNBVkV2ajVSQzFGSk1yTDEyekJLa2IxTjhFSGlQc3FJMStId0V5V092SHU3eHE1aDBkN3BW"
              "WTRBdElOM3c9PSJ9XX0=")
CASE7 = P + ("ZXlKamIzSmxJam9pVEZSblVVdElSMmhsWnpaVU5EaDRjRWRIY2pWNlRtdGthSEF5TW10bGJscERUM0ZwWTBaMFNUUlRRVDBpTENK"
             "bGVIUWlPaUpJUWpGd1pUUXpNVVp2VVZwU2MwcGllVXhPVFhFd1VXRkJkbkZRZEcxb1pHazRaRWhIVTJoaVNrRlZQU0lzSW5OcFoy"
             "NWxaR1Y0ZEdGMGRISnpJanBiSW1WNGRHRWlMQ0psZUhSaUlsMTkiLCJzaWduYXR1cmVzIjpbeyJrZXlpZCI6InRlc3RrZXkiLCJz"
             "aWciOiIyZzFVb0FRcHoxb1BqWlRQUlplK3l2THpaUU5FQ1pha2piWlZYaXpEd2RNbmVJSCsrLzUzdVhOMmJDU2tWSkltZndPaVl5"
             "S0JtNG12c01ISlhJVWh6Zz09In1dfQ==")
SPEC_EVENT = {"specversion": "1.0", "id": "1", "source": "example/uri", "type": "example.type",
              "datacontenttype": "application/json", "exta": "value1", "extb": "value2"}


def test_spec_case_5_binary_data_verifies_end_to_end():
    event = {**SPEC_EVENT, "type": "example.type.binary", "datacontenttype": "application/octet-stream",
             "data_base64": "8J+koQ==", "dssematerial": CASE5}
    del event["exta"], event["extb"]
    assert v.verify_structured(event, SPEC_KEYS) == v.Verified("testkey")


def test_spec_case_7_signature_and_ext_digest_match():
    """The spec's JSON-data vectors hash data bytes it does not show, so only the signature
    (PAE) and the ext digest can be checked; the core digest differs."""
    material = json.loads(base64.b64decode(json.loads(base64.b64decode(CASE7))["payload"]))
    assert base64.b64decode(material["ext"]) == v.ext_digest(SPEC_EVENT, ["exta", "extb"])
    with pytest.raises(NotVerified, match="digest_mismatch: core"):
        v.verify_structured({**SPEC_EVENT, "data": {"hello": "world"}, "dssematerial": CASE7}, SPEC_KEYS)


def test_spec_inconsistent_vectors_are_refused():
    # Case 1 carries the draft's bare 32-byte digest as payload, not the JSON object.
    with pytest.raises(NotVerified, match="malformed"):
        v.verify_structured({**SPEC_EVENT, "data": {"hello": "world"}, "dssematerial": CASE1}, SPEC_KEYS)
    # Case 6a's payload has a stray "=" after the JSON the signature covers.
    with pytest.raises(NotVerified, match="bad_signature"):
        v.verify_structured({**SPEC_EVENT, "data": {"hello": "world"}, "dssematerial": CASE6A}, SPEC_KEYS)


# ------------------------------------------------------------------ interop

SCRIPT = Path(__file__).parents[1] / "interop" / "sign_event.py"
STRUCTURED = {"specversion": "1.0", "id": "e-1", "source": "urn:exemplars:unit:U-01",
              "type": "vn.gov.monre.exemplars.nomination.submitted.v1", "datacontenttype": "application/json",
              "time": "2026-03-14T16:26:53.5+07:00", "subject": "NOM-1", "actor": "S-01", "urgent": True,
              "data_base64": base64.b64encode(VALUE).decode()}


def run(mode: str, request: dict) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, str(SCRIPT), mode], input=json.dumps(request),
                          capture_output=True, text=True, timeout=30)
    assert done.stderr == ""
    return done.returncode, json.loads(done.stdout)


def test_independent_signer_verifies_here():
    code, out = run("sign", {"event": STRUCTURED, "seed": SEED.hex(), "keyid": KID, "signedextattrs": ["actor", "urgent"]})
    assert code == 0
    result = v.verify_structured({**STRUCTURED, **out}, keys())
    assert result == v.Verified(KID, ("actor", "urgent"), {"actor": "S-01", "urgent": True})
    with pytest.raises(NotVerified, match="digest_mismatch"):
        v.verify_structured({**STRUCTURED, **out, "urgent": False}, keys())


def test_library_signature_verifies_in_the_independent_verifier():
    public = {KID: KEY.public_key().public_bytes_raw().hex()}
    event = {**STRUCTURED, **v.sign_structured(STRUCTURED, KEY, ("actor", "urgent"))}
    assert run("verify", {"event": event, "keys": public}) == (0, {"verified": True, "keyid": KID,
                                                                  "signedextattrs": ["actor", "urgent"]})
    code, out = run("verify", {"event": {**event, "actor": "S-02"}, "keys": public})
    assert code == 1 and "ext digest mismatch" in out["error"]


def test_committed_vector_verifies_in_the_independent_verifier():
    attributes = v.attributes_from_headers(HEADERS)
    event = {**attributes, "data_base64": base64.b64encode(VALUE).decode(), "dssematerial": EXPECTED}
    public = {KID: KEY.public_key().public_bytes_raw().hex()}
    assert run("verify", {"event": event, "keys": public})[0] == 0


def test_expired_key_is_not_acceptable():
    lookup = ROTATING.verifying_keys(HEADERS["ce_source"], at("2026-08-01"))
    assert reason(signed(key=OLD), lookup=lookup) == v.UNKNOWN_KEY
