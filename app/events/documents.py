"""JSON Schemas of the events, for the AsyncAPI and OpenAPI documents (both `components`).

One schema per event type, `<Type>Event` (e.g. `MeetingStartedEvent`): the event envelope
(`EventRead`) with its `type` fixed and its `data` typed; and `<Type>Webhook`, the body of a
webhook request carrying it. Built from the registry (app/events/types.py).
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.events.schemas import EventRead
from app.events.types import EVENT_TYPES, EventType

REF = "#/components/schemas/{model}"


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _camel(type_: str) -> str:
    return "".join(part.capitalize() for part in type_.replace(".", "_").split("_"))


def event_schema_name(event_type: EventType) -> str:
    return _camel(event_type.name) + "Event"


def webhook_schema_name(event_type: EventType) -> str:
    return _camel(event_type.name) + "Webhook"


def model_schemas(models: list[type[BaseModel]]) -> dict[str, Any]:
    """Component schemas of `models` and of every model they use (serialized form)."""
    unique = list(dict.fromkeys(models))
    _, top = models_json_schema([(m, "serialization") for m in unique], ref_template=REF)
    return dict(top.get("$defs", {}))


def _typed_envelope(envelope: dict[str, Any], event_type: EventType) -> dict[str, Any]:
    schema = copy.deepcopy(envelope)
    schema["title"] = event_schema_name(event_type)
    schema["description"] = f"`{event_type.name}`: {event_type.description}"
    props = schema["properties"]
    props["type"] = {"const": event_type.name, "type": "string"}
    props["subject"] = {
        "allOf": [ref("EventSubject")],
        "description": f"subject.type is `{event_type.subject}`",
    }
    props["data"] = ref(event_type.data.__name__)
    return schema


def _webhook_body(event_type: EventType) -> dict[str, Any]:
    data = (
        ref(event_schema_name(event_type))
        if event_type.in_history
        else ref(event_type.data.__name__)
    )
    return {
        "title": webhook_schema_name(event_type),
        "type": "object",
        "description": "The body of a webhook request (Standard Webhooks): "
        + (
            "the event type, when it happened, and the event envelope."
            if event_type.in_history
            else event_type.description
        ),
        "properties": {
            "type": {"const": event_type.name, "type": "string"},
            "timestamp": {"type": "string", "format": "date-time"},
            "data": data,
        },
        "required": ["type", "timestamp", "data"],
    }


def event_components(extra: list[type[BaseModel]] | None = None) -> dict[str, Any]:
    """Every schema the events need: data models, typed envelopes and webhook bodies."""
    types = list(EVENT_TYPES.values())
    schemas = model_schemas([EventRead, *(t.data for t in types), *(extra or [])])
    envelope = schemas[EventRead.__name__]
    for event_type in types:
        if event_type.in_history:
            schemas[event_schema_name(event_type)] = _typed_envelope(envelope, event_type)
        schemas[webhook_schema_name(event_type)] = _webhook_body(event_type)
    return schemas
