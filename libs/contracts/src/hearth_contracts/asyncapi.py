"""Generate the AsyncAPI 3.0 document of every Hearth topic and event from the contract registry.

`python -m hearth_contracts.asyncapi > libs/contracts/asyncapi.json` (a test checks it is current, and
another runs the official AsyncAPI parser over it).

What it says: one channel per topic (Kafka binding: partitions), one message per event type (Kafka
binding: the key is the aggregate id; header `content-type: application/cloudevents+json`, structured
mode), a `send` operation per topic for the services that produce it, and the dead-letter channel
`<topic>.dlt` where a consumer parks records it cannot handle. Payload schemas live once under
`components/schemas` (pydantic's `$defs` are hoisted there, so every `$ref` resolves).
"""

from __future__ import annotations

import json
from typing import Any

from hearth_contracts.envelope import SEQUENCE_WIDTH, STRUCTURED_CONTENT_TYPE
from hearth_contracts.registry import all_contracts
from hearth_contracts.topics import ALL_TOPICS, DEAD_LETTER_SUFFIX, Topic

BINDING_VERSION = "0.5.0"
_SCHEMA_REF = "#/components/schemas/{model}"

_ENVELOPE_ATTRIBUTES: dict[str, Any] = {
    "specversion": {"const": "1.0"},
    "id": {"type": "string", "description": "Unique event id, evt_..."},
    "source": {"type": "string", "description": "hearth/<service>"},
    "type": {"type": "string"},
    "subject": {"type": "string", "description": "Aggregate id; also the Kafka key"},
    "time": {"type": "string", "format": "date-time"},
    "datacontenttype": {"const": "application/json"},
    "orgid": {"type": "string", "description": "Owning org"},
    "sequence": {"type": "string", "pattern": f"^[0-9]{{{SEQUENCE_WIDTH}}}$",
                 "description": "Per-aggregate, increasing; zero-padded so it sorts as a string "
                                "(CloudEvents Sequence extension)"},
    "traceparent": {"type": "string", "description": "W3C trace context"},
}
_HEADERS = {
    "type": "object",
    "required": ["content-type"],
    "properties": {"content-type": {"const": STRUCTURED_CONTENT_TYPE,
                                    "description": "CloudEvents Kafka binding, structured mode"}},
}
_KEY = {"type": "string", "description": "The aggregate id (CloudEvents `subject`): per-aggregate order"}


def _message_name(event_type: str) -> str:
    return event_type.removeprefix("hearth.").replace(".", "_")


def _channel_id(topic: str) -> str:
    return topic.replace(".", "_")


def _hoisted_schema(model: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON schema with its `$defs` moved to `components/schemas` (refs rewritten to match)."""
    schema: dict[str, Any] = model.model_json_schema(ref_template=_SCHEMA_REF)
    for name, sub in schema.pop("$defs", {}).items():
        if name in schemas and schemas[name] != sub:
            raise ValueError(f"two different schemas named {name}: rename one of the models")
        schemas[name] = sub
    return schema


def _channel(topic: Topic, *, dead_letters: bool = False) -> dict[str, Any]:
    address = topic.name + (DEAD_LETTER_SUFFIX if dead_letters else "")
    doc: dict[str, Any] = {
        "address": address,
        "messages": {},
        "bindings": {"kafka": {"topic": address, "partitions": 1 if dead_letters else topic.partitions,
                               "bindingVersion": BINDING_VERSION}},
    }
    if dead_letters:
        doc["description"] = (f"Records of {topic.name} a consumer could not handle after its retries, unchanged "
                              "(key, value, headers) plus hearth-dlt-* headers: consumer, topic, partition, "
                              "offset, attempts, error. Replay = produce the record to its topic again.")
    return doc


def build() -> dict[str, Any]:
    """The AsyncAPI document."""
    contracts = all_contracts()
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    for topic in ALL_TOPICS:
        channels[_channel_id(topic.name)] = _channel(topic)
        channels[_channel_id(topic.name + DEAD_LETTER_SUFFIX)] = _channel(topic, dead_letters=True)
    for event_type, model in contracts.items():
        name = _message_name(event_type)
        schemas[model.__name__] = _hoisted_schema(model, schemas)
        messages[name] = {
            "name": event_type,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "",
            "contentType": STRUCTURED_CONTENT_TYPE,
            "headers": _HEADERS,
            "payload": {
                "type": "object",
                "required": ["specversion", "id", "source", "type", "subject", "time", "orgid", "data"],
                "properties": {**_ENVELOPE_ATTRIBUTES, "type": {"const": event_type},
                               "data": {"$ref": _SCHEMA_REF.format(model=model.__name__)}},
            },
            "bindings": {"kafka": {"key": _KEY, "bindingVersion": BINDING_VERSION}},
        }
        ref = {"$ref": f"#/components/messages/{name}"}
        channels[_channel_id(model.topic)]["messages"][name] = ref
        channels[_channel_id(model.topic + DEAD_LETTER_SUFFIX)]["messages"][name] = ref
    operations: dict[str, Any] = {}
    for channel_id, channel in channels.items():
        if not channel["messages"]:
            continue
        dead = channel["address"].endswith(DEAD_LETTER_SUFFIX)
        operations[f"{'park' if dead else 'publish'}_{channel_id}"] = {
            "action": "send",
            "summary": ("A consumer parks a record it cannot handle" if dead
                        else f"Services publish to {channel['address']} through their outbox (acks=all)"),
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{m}"} for m in sorted(channel["messages"])],
        }
    return {
        "asyncapi": "3.1.0",
        "info": {"title": "Hearth events", "version": "1.0.0",
                 "description": "CloudEvents 1.0 on Kafka in structured mode (one JSON document per record, "
                                "header content-type: application/cloudevents+json); key = aggregate id."},
        "defaultContentType": STRUCTURED_CONTENT_TYPE,
        "servers": {
            "local": {"host": "127.0.0.1:9092", "protocol": "kafka",
                      "description": "The broker `make up` starts; its port is HEARTH_KAFKA_PORT"},
            "compose": {"host": "kafka:9092", "protocol": "kafka", "description": "Inside docker compose"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def render() -> str:
    """The document as stable, pretty JSON."""
    return json.dumps(build(), indent=2, sort_keys=True, default=str) + "\n"


if __name__ == "__main__":
    print(render(), end="")
