"""A service's AsyncAPI 3 document, and a self-contained HTML page of it.

FastStream generates the document from the broker: servers, one channel and operation per
subscriber and publisher, Kafka bindings. It knows one payload per endpoint, though, and
ours read and write several event types through one raw-bytes handler; so every channel
here gets one message per event type it carries, with the payload's pydantic schema, the
CloudEvents headers (the `ce_type` of that type) and the Kafka key. The types come from
the handlers a subscription has (shared.kafka.subscriptions) and, for the topics a service
writes, from shared.topics: the code, not a hand-kept list.
"""

import html
import json
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from shared import kafka
from shared.envelope import JSON
from shared.events import BY_TYPE, ce_type
from shared.topics import BY_NAME, DLQ_SUFFIX

SCHEMAS = "#/components/schemas/"
MESSAGES = "#/components/messages/"

ENVELOPE = """

Every event is a CloudEvents 1.0 event in Kafka binary content mode: the value is the
`data` JSON (content-type application/json), the attributes are `ce_*` headers, the Kafka
key is the aggregate id. Intake topics also accept structured mode (content-type
application/cloudevents+json, the whole event as the value). `ce_source` + `ce_id`
identify an event; a repeated pair is a duplicate and changes nothing. Answers derived from
an input have deterministic ids (UUIDv5, see shared/envelope.py). Unknown payload fields
are ignored; a breaking change is a new `ce_type` version."""


def version() -> str:
    try:
        return metadata.version("exemplars")
    except metadata.PackageNotFoundError:
        return "0"


def document(broker: KafkaBroker, *, service: str, description: str,
             sends: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """The service's AsyncAPI 3.0 document as JSON-ready data. `sends`: a publisher's title ->
    the only types it sends, where that is fewer than its topic carries."""
    spec = AsyncAPI(broker, title=f"Exemplars — {service}", version=version(),
                    description=description.strip() + ENVELOPE)
    doc = spec.to_specification().to_jsonable()
    # FastStream's order of endpoints varies between processes; the committed files must not.
    for section in ("channels", "operations"):
        doc[section] = dict(sorted(doc.get(section, {}).items()))
    components = doc.setdefault("components", {})
    messages, schemas = components.setdefault("messages", {}), components.setdefault("schemas", {})
    handled = {sub.title: sub.event_types for sub in kafka.subscriptions(broker)} | dict(sends or {})
    for name, channel in doc.get("channels", {}).items():
        address = channel.get("address", "")
        if address.endswith(DLQ_SUFFIX):
            channel["messages"] = {"dead_letter": {"$ref": MESSAGES + "dead_letter"}}
            messages["dead_letter"] = _dead_letter_message()
        elif name in handled or address in BY_NAME:
            types = tuple(handled.get(name) or BY_NAME[address].event_types)
            key = BY_NAME[address].key if address in BY_NAME else "aggregate id"
            channel["messages"] = {t: {"$ref": MESSAGES + t} for t in types}
            for event_type in types:
                messages[event_type] = _event_message(event_type, key, schemas)
        else:
            continue
        for operation in doc.get("operations", {}).values():
            if operation["channel"]["$ref"] == f"#/channels/{name}":
                operation["messages"] = [{"$ref": f"#/channels/{name}/messages/{m}"} for m in channel["messages"]]
    _prune(doc)
    return doc


def _event_message(event_type: str, key: str, schemas: dict[str, Any]) -> dict[str, Any]:
    model = BY_TYPE[event_type]
    schema = model.model_json_schema(ref_template=SCHEMAS + "{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas.setdefault(model.__name__, schema)
    message = {
        "name": event_type,
        "title": event_type,
        "contentType": JSON,
        "headers": _cloudevents_headers(event_type),
        "payload": {"$ref": SCHEMAS + model.__name__},
        "bindings": {"kafka": {"key": {"type": "string", "description": key}, "bindingVersion": "0.4.0"}},
    }
    if model.__doc__:
        message["summary"] = " ".join(model.__doc__.split())
    return message


def _cloudevents_headers(event_type: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "ce_specversion": {"const": "1.0"},
            "ce_id": {"type": "string", "description": "unique per ce_source; a UUID"},
            "ce_source": {"type": "string", "description": "the sending system, e.g. urn:unit:QLDD"},
            "ce_type": {"const": ce_type(event_type)},
            "ce_time": {"type": "string", "format": "date-time"},
            "ce_subject": {"type": "string"},
            "content-type": {"const": JSON},
        },
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "content-type"],
    }


def _dead_letter_message() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "name": "dead_letter",
        "title": "dead letter",
        "summary": "A record the service could not process: the original key, value and headers, kept exactly.",
        "headers": {
            "type": "object",
            "properties": {
                "x-dlq-reason": {"enum": ["undecodable", "unexpected_type", "handler_error"]},
                "x-dlq-error": text, "x-dlq-service": text, "x-dlq-topic": text,
                "x-dlq-partition": text, "x-dlq-offset": text,
                "x-dlq-original-headers": {"type": "string", "description": "JSON [[name, base64 value], ...]"},
            },
            "required": ["x-dlq-reason", "x-dlq-error", "x-dlq-service", "x-dlq-topic", "x-dlq-partition",
                         "x-dlq-offset", "x-dlq-original-headers"],
        },
        "payload": {"description": "the original record's value, unchanged (any bytes)"},
    }  # fmt: skip


def _prune(doc: dict[str, Any]) -> None:
    """Drop the components FastStream made for payloads we replaced."""
    components = doc["components"]
    body = {k: v for k, v in doc.items() if k != "components"}
    used_messages = {ref[len(MESSAGES):] for ref in _refs(body) if ref.startswith(MESSAGES)}
    components["messages"] = {k: v for k, v in components["messages"].items() if k in used_messages}
    pending = [ref[len(SCHEMAS):] for ref in _refs(components["messages"]) if ref.startswith(SCHEMAS)]
    used_schemas: set[str] = set()
    while pending:
        name = pending.pop()
        if name in used_schemas or name not in components["schemas"]:
            continue
        used_schemas.add(name)
        pending += [ref[len(SCHEMAS):] for ref in _refs(components["schemas"][name]) if ref.startswith(SCHEMAS)]
    components["schemas"] = {k: v for k, v in sorted(components["schemas"].items()) if k in used_schemas}


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def to_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# ---- HTML: readable without JavaScript or anything fetched from the internet -------------------


def to_html(doc: dict[str, Any]) -> str:
    info, components = doc.get("info", {}), doc.get("components", {})
    parts = [f"<h1>{_e(info.get('title'))} <small>{_e(info.get('version'))}</small></h1>",
             f"<p class=pre>{_e(info.get('description', ''))}</p>",
             f'<p>Machine-readable: <a href="asyncapi.json">asyncapi.json</a> (AsyncAPI {_e(doc.get("asyncapi"))}).</p>',
             "<h2>Servers</h2><ul>"]
    parts += [f"<li>{_e(n)}: {_e(s.get('protocol'))}://{_e(s.get('host'))}</li>" for n, s in doc.get("servers", {}).items()]
    parts.append("</ul><h2>Operations</h2><table><tr><th>operation</th><th>action</th><th>topic</th>"
                 "<th>description</th><th>messages</th></tr>")
    for name, operation in doc.get("operations", {}).items():
        channel = doc["channels"][operation["channel"]["$ref"].rsplit("/", 1)[1]]
        links = ", ".join(f'<a href="#message-{_e(m)}">{_e(m)}</a>' for m in channel.get("messages", {}))
        parts.append(f"<tr><td>{_e(name)}</td><td>{_e(operation.get('action'))}</td>"
                     f"<td><code>{_e(channel.get('address'))}</code></td><td>{_e(channel.get('description', ''))}</td>"
                     f"<td>{links}</td></tr>")
    parts.append("</table><h2>Messages</h2>")
    for name, message in components.get("messages", {}).items():
        key = message.get("bindings", {}).get("kafka", {}).get("key", {}).get("description")
        parts.append(f'<h3 id="message-{_e(name)}">{_e(name)}</h3><p>{_e(message.get("summary", ""))}</p><ul>')
        if key:
            parts.append(f"<li>Kafka key: {_e(key)}</li>")
        parts.append(f"<li>payload: {_type(message.get('payload', {}))}</li></ul>")
        parts.append(_properties(message.get("headers", {}), "headers"))
    parts.append("<h2>Schemas</h2>")
    for name, schema in components.get("schemas", {}).items():
        parts.append(f'<h3 id="schema-{_e(name)}">{_e(name)}</h3><p>{_e(schema.get("description", ""))}</p>')
        parts.append(_properties(schema, "fields") if "properties" in schema else f"<p>{_type(schema)}</p>")
    title = _e(info.get("title"))
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{title} — AsyncAPI</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>")


_STYLE = ("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;line-height:1.4}"
          "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;"
          "text-align:left;vertical-align:top}code{background:#f4f4f4}.pre{white-space:pre-wrap}")


def _properties(schema: dict[str, Any], caption: str) -> str:
    required = set(schema.get("required", ()))
    rows = [f"<tr><td><code>{_e(n)}</code></td><td>{_type(s)}</td><td>{'yes' if n in required else ''}</td>"
            f"<td>{_e(s.get('description', ''))}</td></tr>" for n, s in schema.get("properties", {}).items()]
    if not rows:
        return ""
    return (f"<table><caption>{caption}</caption><tr><th>name</th><th>type</th><th>required</th>"
            f"<th>notes</th></tr>{''.join(rows)}</table>")


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f'<a href="#schema-{_e(name)}">{_e(name)}</a>'
    if "anyOf" in schema or "oneOf" in schema:
        return " | ".join(_type(option) for option in schema.get("anyOf") or schema["oneOf"])
    if "const" in schema:
        return f"<code>{_e(json.dumps(schema['const'], ensure_ascii=False))}</code>"
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{_e(v)}</code>" for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        text = f"list of {_type(schema.get('items', {}))}"
    elif kind == "object" and "additionalProperties" in schema:
        text = f"map of {_type(schema['additionalProperties'] or {})}"
    else:
        text = _e(kind) + (f" ({_e(schema['format'])})" if "format" in schema else "")
    limits = [f"{k} {_e(schema[k])}" for k in ("minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems")
              if k in schema]
    if "pattern" in schema:
        limits.append(f"pattern <code>{_e(schema['pattern'])}</code>")
    if "default" in schema and schema["default"] is not None:
        limits.append(f"default <code>{_e(json.dumps(schema['default'], ensure_ascii=False))}</code>")
    return text + (f" <small>[{', '.join(limits)}]</small>" if limits else "")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))
