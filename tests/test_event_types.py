"""The registry of event types (app/events/types.py) and the documents built from it: the
AsyncAPI document, `GET /api/v1/event-types` and the OpenAPI `webhooks` section."""

from __future__ import annotations

import ast
import copy
import json
import re
import typing
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jsonschema import Draft7Validator
from sqlalchemy import select
from sqlmodel import col

from app.comments.service import SubjectType
from app.core.config import Settings
from app.core.db import create_engine, create_session_factory
from app.demo import DEMO_GROUP_NAME, seed
from app.events import asyncapi
from app.events.types import EVENT_TYPES, EventType
from app.models import Event, Group
from tests.helpers import make_user

ROOT = Path(__file__).resolve().parent.parent
# The AsyncAPI 3.0.0 document schema (see tests/schemas/README.md).
ASYNCAPI_SCHEMA = json.loads((ROOT / "tests/schemas/asyncapi-3.0.0.json").read_text())
EVENT_TYPE = re.compile(r"^([a-z_]+)\.([a-z_]+)$")
# The registry and the models that describe the types are not emitters.
NOT_EMITTERS = {"app/events/types.py", "app/events/payloads.py"}


def _literals() -> tuple[set[str], set[str], set[str]]:
    """Every `a.b` string literal in app/, every literal `subject_type=` or `SUBJECT = `
    value, and the `verb` of every f-string `{…}.verb` given to a record function (comments
    record `{subject}.commented`)."""
    dotted: set[str] = set()
    subjects: set[str] = set()
    verbs: set[str] = set()
    for path in (ROOT / "app").rglob("*.py"):
        if str(path.relative_to(ROOT)) in NOT_EMITTERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if EVENT_TYPE.match(node.value):
                    dotted.add(node.value)
            elif isinstance(node, ast.keyword) and node.arg == "subject_type":
                if isinstance(node.value, ast.Constant):
                    subjects.add(node.value.value)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                named = any(isinstance(t, ast.Name) and t.id == "SUBJECT" for t in targets)
                if named and isinstance(node.value, ast.Constant):
                    subjects.add(node.value.value)
            elif isinstance(node, ast.Call) and node.args:
                verb = _built_verb(node.args[0])
                if verb is not None and "record" in ast.unparse(node.func):
                    verbs.add(verb)
    return dotted, subjects, verbs


def _built_verb(node: ast.expr) -> str | None:
    """`verb` of an f-string `{…}.verb`, else None."""
    if not isinstance(node, ast.JoinedStr) or len(node.values) != 2:
        return None
    head, tail = node.values
    if not isinstance(head, ast.FormattedValue) or not isinstance(tail, ast.Constant):
        return None
    return str(tail.value)[1:] if re.fullmatch(r"\.[a-z_]+", str(tail.value)) else None


def test_the_registry_lists_every_event_type_the_code_can_emit() -> None:
    """A literal `<subject>.<verb>` whose subject is one events are about (a `subject_type`
    or a registered prefix) is an event type; the registry must have it, and must not list
    types nothing in the code names."""
    dotted, subjects, verbs = _literals()
    prefixes = subjects | {t.split(".")[0] for t in EVENT_TYPES}
    emitted = {s for s in dotted if s.split(".")[0] in prefixes}
    # `<subject>.commented` is built from the commented object's kind.
    assert verbs == {"commented"}, "a new f-string event type: list its expansions here"
    emitted |= {f"{subject}.commented" for subject in typing.get_args(SubjectType)}
    assert emitted - set(EVENT_TYPES) == set(), "event types missing from app/events/types.py"
    assert set(EVENT_TYPES) - emitted == set(), "registered types that nothing emits"
    assert {"questionnaire", "finding", "introduction"} & subjects  # the scan sees subjects


@pytest.mark.parametrize("event_type", EVENT_TYPES.values(), ids=lambda t: t.name)
def test_every_example_is_an_instance_of_its_model(event_type: EventType) -> None:
    data = event_type.example_data
    event_type.data.model_validate(data)
    assert set(data) == _keys(event_type), "the example leaves a member out"


def _keys(event_type: EventType) -> set[str]:
    return {f.alias or name for name, f in event_type.data.model_fields.items()}


async def test_real_events_match_their_models(settings: Settings) -> None:
    """The demo's events, written by the real services: each one's data validates against
    its registered model and carries no member the model does not document."""
    await seed(settings)  # idempotent: a second run (another test seeded it) adds nothing
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            demo = select(Group.id).where(Group.name == DEMO_GROUP_NAME)
            rows = (
                (await session.execute(select(Event).where(col(Event.group_id).in_(demo))))
                .scalars()
                .all()
            )
    finally:
        await engine.dispose()
    seen = set()
    for row in rows:
        event_type = EVENT_TYPES[row.type]
        event_type.data.model_validate(row.data)
        assert set(row.data) <= _keys(event_type), (row.type, set(row.data) - _keys(event_type))
        assert row.subject_type == event_type.subject, row.type
        seen.add(row.type)
    assert len(seen) >= 10, seen


def test_the_asyncapi_document_is_valid_asyncapi_3() -> None:
    validator = Draft7Validator(ASYNCAPI_SCHEMA)
    doc = asyncapi.build()
    assert [e.message for e in validator.iter_errors(doc)] == []
    # The validator does check: a document with a wrong operation action fails.
    broken = copy.deepcopy(doc)
    broken["operations"]["sendWebhook"]["action"] = "publish"
    assert not validator.is_valid(broken)


def test_the_asyncapi_document_covers_every_event_type_and_ws_message() -> None:
    doc = asyncapi.build()
    channels = doc["channels"]
    webhook_messages = {m["name"] for m in doc["components"]["messages"].values()}
    assert set(EVENT_TYPES) <= webhook_messages
    assert len(channels["webhooks"]["messages"]) == len(EVENT_TYPES)
    ws = {name for name in channels["realtime"]["messages"]}
    assert ws == {
        "subscribe",
        "unsubscribe",
        "ping",
        "subscribed",
        "unsubscribed",
        "event",
        "reset",
        "notification",
        "error",
        "pong",
        "heartbeat",
    }
    frame = doc["components"]["schemas"]["EventFrame"]["properties"]["event"]
    assert len(frame["oneOf"]) == sum(t.in_history for t in EVENT_TYPES.values())
    for code in ("4401", "4403", "1008", "1013"):
        assert code in channels["realtime"]["description"]


def test_the_committed_asyncapi_document_is_current() -> None:
    committed = (ROOT / "docs/asyncapi.json").read_text()
    assert committed == asyncapi.render(), (
        "docs/asyncapi.json is stale: python -m app.events.asyncapi docs/asyncapi.json"
    )


async def test_asyncapi_json_is_served(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.get("/asyncapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == json.loads(asyncapi.render())


async def test_event_types_lists_every_type_with_an_example(client: httpx.AsyncClient) -> None:
    assert (await client.get("/event-types")).status_code == 401
    user = await make_user(client)
    r = await client.get("/event-types", headers=user.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None
    listed = {item["type"]: item for item in body["items"]}
    assert list(listed) == list(EVENT_TYPES)
    started = listed["meeting.started"]
    assert started["description"] and started["in_history"] is True
    assert started["example"]["type"] == "meeting.started"
    assert set(started["example"]["data"]) >= {"meeting"}


def test_openapi_webhooks_describe_every_event_type(app: FastAPI) -> None:
    spec: dict[str, Any] = app.openapi()
    assert set(spec["webhooks"]) == set(EVENT_TYPES)
    post = spec["webhooks"]["action_item.assigned"]["post"]
    content = post["requestBody"]["content"]["application/json"]
    assert content["example"]["data"]["type"] == "action_item.assigned"
    name = content["schema"]["$ref"].rsplit("/", 1)[1]
    body = spec["components"]["schemas"][name]
    envelope = spec["components"]["schemas"][body["properties"]["data"]["$ref"].rsplit("/")[-1]]
    assert envelope["properties"]["type"]["const"] == "action_item.assigned"
    assert {p["name"] for p in post["parameters"]} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
