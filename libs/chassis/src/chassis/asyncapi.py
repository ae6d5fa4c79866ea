"""The AsyncAPI 3.0 document of every topic, written from the event contract alone.

    uv run --frozen python -m chassis.asyncapi > docs/asyncapi.yaml     (or: make asyncapi)

Channels are the Kafka topics of `chassis.events.Topics` and the consumer groups'
dead-letter topics; messages are the event models with their JSON Schemas as pydantic
makes them (the CloudEvents envelope with the event's ``data``); operations say which
service sends and which consumer group receives each message. Nothing here is written by
hand twice: a unit test regenerates the document and compares it with the checked-in
one, and `make asyncapi-check` validates it with the AsyncAPI CLI.
"""

from __future__ import annotations

import inspect
import re
import sys
import textwrap
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chassis.events import (
    CONSUMER_GROUPS,
    CONTENT_TYPE,
    DEAD_LETTER_PARTITIONS,
    EVENT_TYPES,
    PUBLISHERS,
    SUBSCRIPTIONS,
    TOPIC_PARTITIONS,
    Envelope,
    EventData,
    NotificationFailed,
    Topics,
)

__all__ = [
    "DEAD_LETTER_HEADERS",
    "EVENT_HEADERS",
    "FAILED_DELIVERY_HEADERS",
    "document",
    "main",
    "render",
]

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
_SCHEMAS = "#/components/schemas/"

# Kafka headers of every event record; `EventPublisher.publish_many` writes them.
EVENT_HEADERS: dict[str, str] = {
    "content-type": f"Always `{CONTENT_TYPE}`: the value is a structured-mode CloudEvent.",
    "ce_type": "The envelope's `type`, so a reader can route a record without parsing it.",
    "ce_id": "The envelope's `id`.",
    "traceparent": "W3C trace context of the producer's span: one trace per dossier step.",
    "tracestate": "W3C trace state, when the trace has one.",
}
_REQUIRED_EVENT_HEADERS = ("content-type", "ce_type", "ce_id")

# What a consumer group adds to a record it cannot handle; `ConsumerLoop` writes them.
DEAD_LETTER_HEADERS: dict[str, str] = {
    "dlq_reason": "Why the record cannot be handled (not JSON, not an envelope, unknown "
    "type, invalid data, or the handler's error after its retries); at most 4,000 bytes.",
    "dlq_group": "The consumer group that gave up on the record.",
    "dlq_source_topic": "The topic the record was read from, prefix included.",
    "dlq_source_partition": "Its partition, in decimal.",
    "dlq_source_offset": "Its offset, in decimal: the record stays there, whole.",
    "dlq_value_truncated": "Only when the record was too large to copy with these "
    "headers: its length in bytes; the value is then its first 64 KiB.",
}
_REQUIRED_DEAD_LETTER_HEADERS = (
    "dlq_reason",
    "dlq_group",
    "dlq_source_topic",
    "dlq_source_partition",
    "dlq_source_offset",
)

# What notification writes for a delivery that used up its attempts.
FAILED_DELIVERY_HEADERS: dict[str, str] = {
    "content-type": EVENT_HEADERS["content-type"],
    "ce_type": "Always `notification.failed.v1`.",
    "ce_id": "The id of the `notification.failed.v1` event, the same as on "
    "`notification.outcomes`.",
    "dlq_reason": "`delivery failed: ` and the last error of the gateway.",
    "dlq_group": "Always `notification`.",
    "dlq_delivery_id": "The delivery's id, for the operators' resend (`POST "
    "/v1/deliveries/{id}/resend`).",
    "dlq_channel": "email, sms or webhook.",
    "dlq_source_event_id": "The lifecycle event the citizen was to be told about.",
}

_PREFIX_TEXT = (
    "Every service puts the value of `KAFKA_TOPIC_PREFIX` (empty unless set) in front of "
    "each topic name and each consumer group id, so that several environments or test "
    "runs can share one broker: with `KAFKA_TOPIC_PREFIX=staging.` the submissions topic "
    "is `staging.dossier.submissions` and audit's consumer group `staging.audit`. "
    "Addresses and group ids in this document are written without it."
)

_KEY_TEXT = (
    "The dossier id (the envelope's `subject`), UTF-8: every event of one dossier lands "
    "on one partition, so its consumers see them in the order they happened."
)

_INFO_TEXT = f"""\
The events the four services of hoso (intake, processing, notification, audit) exchange \
through Kafka. Services never call each other; these topics are the only way one learns \
what another did.

**Wire format.** Each record's value is one CloudEvents 1.0 envelope in structured mode \
(`content-type: {CONTENT_TYPE}`), with the extension attribute `actor` (who caused the \
event, never a name or an ID number) and the event's payload in `data`. The record key is \
the dossier id. `type` names the payload's schema and its version: a change that is not \
backward compatible gets a new type (`….v2`), published beside the old one until every \
consumer reads it.

**Topic prefix.** {_PREFIX_TEXT}

**Delivery.** Producers write with `acks=all` and idempotence on. Consumers read at least \
once, commit after a batch is handled, and are idempotent on the envelope `id`. A record a \
group can never handle goes to that group's dead-letter topic `<group>.dlq` with the \
`dlq_*` headers saying why and where it came from, and the group moves on.

Written by `python -m chassis.asyncapi` from `libs/chassis/src/chassis/events.py`; do not \
edit by hand (`make asyncapi` writes it, a unit test fails when it is stale)."""


def document() -> dict[str, Any]:
    """The AsyncAPI document as plain data, in a stable order."""
    models: list[type[BaseModel]] = [Envelope, *EVENT_TYPES.values()]
    _, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template=_SCHEMAS + "{model}"
    )
    schemas: dict[str, Any] = dict(definitions["$defs"])
    for event_type, model in EVENT_TYPES.items():
        schemas[_envelope_name(model)] = _envelope_schema(event_type, model)
    schemas["EventHeaders"] = _headers_schema(EVENT_HEADERS, _REQUIRED_EVENT_HEADERS)
    schemas["DeadLetterHeaders"] = _headers_schema(
        DEAD_LETTER_HEADERS,
        _REQUIRED_DEAD_LETTER_HEADERS,
        others="The record's own headers are kept beside these.",
    )
    schemas["FailedDeliveryHeaders"] = _headers_schema(
        FAILED_DELIVERY_HEADERS, tuple(FAILED_DELIVERY_HEADERS)
    )

    messages: dict[str, Any] = {m.__name__: _event_message(m) for m in EVENT_TYPES.values()}
    messages["DeadLetter"] = _dead_letter_message()
    messages["FailedDelivery"] = _failed_delivery_message()

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in Topics.ALL:
        channel = _channel_id(topic)
        models_here = [m for m in EVENT_TYPES.values() if m.topic == topic]
        channels[channel] = _channel(
            topic,
            title=topic,
            description=_topic_text(topic),
            messages=[m.__name__ for m in models_here],
            partitions=TOPIC_PARTITIONS[topic],
        )
        publisher = PUBLISHERS[topic]
        operations[f"{publisher}Sends{_pascal(channel)}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"{publisher} publishes every event of {topic}.",
            "description": "Written with acks=all by an idempotent producer; the service "
            "counts an event as published only once the broker acknowledged it.",
            "messages": [_message_ref(channel, m.__name__) for m in models_here],
        }
        for group in CONSUMER_GROUPS:
            handled = [m for m in models_here if m.event_type in SUBSCRIPTIONS[group]]
            if not handled:
                continue
            operations[f"{group}Receives{_pascal(channel)}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{channel}"},
                "summary": f"{group} acts on {_listing(m.event_type for m in handled)}.",
                "description": f"Consumer group `{group}`. It reads every record of the "
                "topic and commits records of the other types without effect; it is "
                "idempotent on the envelope id, as a batch is redelivered after a crash.",
                "messages": [_message_ref(channel, m.__name__) for m in handled],
                "bindings": {"kafka": _group_binding(group)},
            }

    for group in CONSUMER_GROUPS:
        topic = Topics.dead_letter(group)
        channel = _channel_id(topic)
        names = ["DeadLetter"] + (["FailedDelivery"] if group == "notification" else [])
        channels[channel] = _channel(
            topic,
            title=f"{topic}: what {group} could not handle",
            description=f"Records consumer group `{group}` gave up on, the value unchanged "
            "and the `dlq_*` headers added. No service consumes them: they are for operators "
            "(`make status` counts them, `hoso_dead_letters_total` alerts on them)."
            + (
                " Notification also writes here every delivery that used up its attempts, "
                "as its `notification.failed.v1` event."
                if group == "notification"
                else ""
            ),
            messages=names,
            partitions=DEAD_LETTER_PARTITIONS,
        )
        operations[f"{group}Sends{_pascal(channel)}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"{group} sets aside what it cannot handle.",
            "messages": [_message_ref(channel, name) for name in names],
        }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "hoso events",
            "version": _contract_version(),
            "description": _wrap(_INFO_TEXT),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "protocolVersion": "4.1.1",
                "description": "The broker `make run` and `make test` start "
                "(`deploy/local.py`): Apache Kafka 4.1.1 in KRaft mode, one node, "
                "plaintext on the loopback interface.",
            },
            "compose": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "protocolVersion": "4.1.1",
                "description": "The broker of `docker compose up`, as the services in the "
                "compose network reach it.",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "parameters": {"prefix": {"description": _PREFIX_TEXT, "default": ""}},
        },
    }


def render() -> str:
    """The document as YAML text, the form docs/asyncapi.yaml holds."""
    return str(
        yaml.dump(
            document(),
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            width=100,
            default_flow_style=False,
        )
    )


def main() -> None:
    sys.stdout.write(render())


# --------------------------------------------------------------------------- parts


def _channel(
    topic: str, *, title: str, description: str, messages: list[str], partitions: int
) -> dict[str, Any]:
    return {
        "address": "{prefix}" + topic,
        "title": title,
        "description": description,
        "parameters": {"prefix": {"$ref": "#/components/parameters/prefix"}},
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
        "bindings": {
            "kafka": {
                "partitions": partitions,
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _event_message(model: type[EventData]) -> dict[str, Any]:
    return {
        "name": model.event_type,
        "title": model.__name__,
        "summary": _summary(model),
        "contentType": CONTENT_TYPE,
        "headers": {
            "allOf": [
                {"$ref": _SCHEMAS + "EventHeaders"},
                {"type": "object", "properties": {"ce_type": {"const": model.event_type}}},
            ]
        },
        "payload": {"$ref": _SCHEMAS + _envelope_name(model)},
        "correlationId": {
            "description": "The envelope id: consumers drop a record whose id they have "
            "already applied.",
            "location": "$message.payload#/id",
        },
        "bindings": {"kafka": _key_binding(_KEY_TEXT)},
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "dead-letter",
        "title": "DeadLetter",
        "summary": "A record a consumer group could not handle, with the reason.",
        "description": "The value is the source record's value byte for byte, whatever it "
        "was (usually one of the event envelopes of this document, but possibly not JSON "
        "at all: that may be why it is here). The key is the source record's key.",
        "headers": {"$ref": _SCHEMAS + "DeadLetterHeaders"},
        "payload": {
            "description": "The source record's value, unchanged (or its first 64 KiB, "
            "see `dlq_value_truncated`)."
        },
        "bindings": {"kafka": _key_binding("The source record's key (a dossier id).")},
    }


def _failed_delivery_message() -> dict[str, Any]:
    return {
        "name": "failed-delivery",
        "title": "FailedDelivery",
        "summary": "A notice that could not be delivered after its last attempt.",
        "contentType": CONTENT_TYPE,
        "headers": {"$ref": _SCHEMAS + "FailedDeliveryHeaders"},
        "payload": {"$ref": _SCHEMAS + _envelope_name(NotificationFailed)},
        "bindings": {"kafka": _key_binding(_KEY_TEXT)},
    }


def _envelope_schema(event_type: str, model: type[EventData]) -> dict[str, Any]:
    about: dict[str, Any] = {
        "type": "object",
        "properties": {
            "type": {"const": event_type},
            "subject": {"type": "string", "description": "The dossier id."},
            "data": {"$ref": _SCHEMAS + model.__name__},
        },
        "required": ["subject"],
    }
    if "dossier_id" not in model.model_fields:
        # A catalogue version is nobody's dossier.
        about["properties"]["subject"] = {"type": "null", "description": "No dossier."}
        del about["required"]
    return {
        "title": _envelope_name(model),
        "description": f"The CloudEvents envelope of {event_type}.",
        "allOf": [{"$ref": _SCHEMAS + Envelope.__name__}, about],
    }


def _headers_schema(
    headers: dict[str, str], required: tuple[str, ...], others: str | None = None
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            name: {"type": "string", "description": text} for name, text in headers.items()
        },
        "required": list(required),
    }
    if headers.get("content-type") == EVENT_HEADERS["content-type"]:
        schema["properties"]["content-type"]["const"] = CONTENT_TYPE
    if others:
        schema["description"] = others
        schema["additionalProperties"] = {"type": "string"}
    return schema


def _key_binding(text: str) -> dict[str, Any]:
    return {
        "key": {"type": "string", "description": text},
        "bindingVersion": KAFKA_BINDING_VERSION,
    }


def _group_binding(group: str) -> dict[str, Any]:
    return {
        "groupId": {
            "type": "string",
            "description": f"`{group}`, behind the topic prefix.",
            "examples": [group],
        },
        "bindingVersion": KAFKA_BINDING_VERSION,
    }


def _topic_text(topic: str) -> str:
    publisher = PUBLISHERS[topic]
    readers = [
        g for g in CONSUMER_GROUPS if any(EVENT_TYPES[t].topic == topic for t in SUBSCRIPTIONS[g])
    ]
    if topic == Topics.CATALOGUE:
        # Not a dossier's event: its key is the event id, derived from the version's content.
        return (
            f"Published by {publisher}, read by {_listing(readers)}. Keyed by event id, one "
            "partition: catalogue versions keep the order they came into force in."
        )
    return (
        f"Published by {publisher}, read by {_listing(readers)}. Keyed by dossier id, "
        f"{TOPIC_PARTITIONS[topic]} partitions: one dossier's events keep their order."
    )


def _summary(model: type[BaseModel]) -> str:
    text = inspect.getdoc(model) or model.__name__
    return " ".join(text.split("\n\n", 1)[0].split())


def _envelope_name(model: type[BaseModel]) -> str:
    return f"{model.__name__}Event"


def _message_ref(channel: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/channels/{channel}/messages/{name}"}


def _channel_id(topic: str) -> str:
    """``dossier.submissions`` → ``dossierSubmissions``, ``audit.dlq`` → ``auditDlq``."""
    head, *rest = re.split(r"[.\-_]", topic)
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def _listing(items: Any) -> str:
    names = [str(i) for i in items]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _wrap(text: str) -> str:
    # Markdown joins the lines of a paragraph; short lines keep the YAML readable.
    return "\n\n".join(textwrap.fill(p, width=88) for p in text.split("\n\n"))


def _contract_version() -> str:
    try:
        return version("hoso-chassis")
    except PackageNotFoundError:  # pragma: no cover - a checkout without the workspace
        return "0.0.0"


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML ships without types here
    """Block style for long text, so the document reads (and diffs) line by line."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
# Enum members (StrEnum) are written as their values.
_Dumper.add_multi_representer(str, _represent_str)

if __name__ == "__main__":
    main()
