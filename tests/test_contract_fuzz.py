"""Contract fuzzing: schemathesis sends requests generated from the app's own OpenAPI schema.

Every documented operation is exercised by a signed-in user, mostly on objects that exist in a
group they own, with valid data (must not be refused for its shape) and invalid data (must be
refused with a 4xx); no response may be a 5xx, and every one must be documented: its status
code, its content type, its body's schema and its headers.

The app runs under a real uvicorn in a thread of its own (its own event loop and lifespan),
against a database of its own, so the synchronous schemathesis tests never block the suite's
session loop and the objects they create never show up in other tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
import uvicorn
from fastapi import FastAPI
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.core.config import Settings
from app.core.migrations import upgrade
from app.core.openapi_headers import VERSIONED_READS
from app.main import create_app
from tests.conftest import TEST_SECRET, fresh_database, make_settings
from tests.helpers import PASSWORD, unique

# Schemathesis's default refusals of invalid data, plus 413: refusing an oversized body is
# refusing invalid data too (API.md). A 5xx is reported by `not_a_server_error`.
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]

# Per operation: 10 generated cases (valid and invalid), plus schemathesis's deterministic
# "coverage" cases, each violating one constraint of the schema (about 40 on average). That
# keeps the file near a minute on two cores, on either backend. Fixed seed: CI is reproducible.
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20240917,
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        "generation": {
            "mode": "all",
            "max-examples": 10,
            "deterministic": True,
            "database": "none",
        },
        "checks": {"negative_data_rejection": {"expected-statuses": [*REFUSALS, "5xx"]}},
        "phases": {
            # Methods an operation lacks only meet the framework's 405, and boundary values of
            # valid data are left to the generated cases: both would double the run time.
            "coverage": {"unexpected-methods": [], "generation": {"mode": "negative"}},
            "stateful": {"enabled": False},
        },
    }
)


def _schema_app() -> FastAPI:
    """An app built only to read its OpenAPI document (nothing is started or connected)."""
    return create_app(
        Settings(env="test", secret_key=TEST_SECRET, database_url="sqlite+aiosqlite://")
    )


DOCUMENT = _schema_app().openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)

# Field errors of a 422 that refuse a request for what it means rather than for its shape:
# custom validators (`value_error`: an unknown time zone, ends before it starts, a country
# code that does not exist) and lookups (no `type`: that user is not a member). A schema
# cannot express these, so valid-looking data may meet them.
MEANING_ERRORS = {None, "value_error"}


def _refused_for_meaning(response: schemathesis.Response) -> bool:
    if response.status_code not in (400, 422):
        return False
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return False
    if any(e.get("type") not in MEANING_ERRORS for e in errors):
        return False
    # A 400 names its field when it is about meaning: a cursor is opaque, only valid as the
    # server issued it. Without one it is malformed JSON, which valid data never is.
    return response.status_code == 422 or bool(errors)


@schemathesis.check
def valid_data_accepted(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """`positive_data_acceptance`, except for refusals no schema can rule out: the meaning of
    the data (above), and 412 (a well-formed `If-Match` naming another version). A request
    refused for its *shape* (a missing or mistyped field) still fails: the schema promised
    the app would take it."""
    if response.status_code == 412 or _refused_for_meaning(response):
        return None
    return positive_data_acceptance(ctx, response, case)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    valid_data_accepted,
]


# Schemathesis builds some cases (its boundary-value "coverage" phase) while collecting the
# tests, before any user exists, so its auth hook sends this stand-in, and each test swaps in
# the real token just before the call.
STAND_IN = "Bearer signed-in-user"


@schema.auth(refresh_interval=None)
class SignedIn:
    """Schemathesis's own auth hook rather than a header of ours, so that it still sends the
    requests it means to send without credentials and checks that they get a 401."""

    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        return STAND_IN

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = data


# --- the app under test -----------------------------------------------------------------------


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve `app` (lifespan included) on 127.0.0.1 from a thread; yield its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fuzzed app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[str]:
    with fresh_database(tmp_path_factory) as url:
        settings = make_settings(url, redis_url, tmp_path_factory.mktemp("fuzz"))
        upgrade(settings)
        with serving(create_app(settings)) as base:
            yield base


class Api:
    """A tiny synchronous client for setting up data."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base = base_url + "/api/v1"
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        r = self.session.request(method, self.base + path, timeout=30, **kw)
        assert r.status_code == expect, (method, path, r.status_code, r.text)
        return r.json() if r.content else None


def _sign_up(base_url: str, name: str) -> tuple[str, str]:
    """Register a user; return (id, access token)."""
    anon = Api(base_url)
    email = f"{unique(name)}@example.org"
    user = anon.call(
        "POST", "/auth/register", 201, json={"email": email, "password": PASSWORD, "name": name}
    )
    token = anon.call("POST", "/auth/token", data={"username": email, "password": PASSWORD})
    return user["id"], token["access_token"]


@pytest.fixture(scope="module")
def owner(base_url: str) -> tuple[str, str]:
    return _sign_up(base_url, "fuzz-owner")


@pytest.fixture(scope="module")
def member(base_url: str) -> tuple[str, str]:
    return _sign_up(base_url, "fuzz-member")


@pytest.fixture(scope="module")
def organization(base_url: str, owner: tuple[str, str]) -> str:
    api = Api(base_url, owner[1])
    body = {"name": unique("org"), "kind": "cluster", "country": "CR"}
    org = api.call("POST", "/organizations", 201, json=body)
    return str(org["id"])


# Operations that only do something on a live meeting, or on a proposal under review; for
# them the world's meeting is started, or its proposal submitted and taken into review.
NEEDS_LIVE_MEETING = (
    "/join",
    "/leave",
    "/hands",
    "/hands/me",
    "/hands/next",
    "/advance",
    "/end",
    "/report",  # a draft for the owner, who runs it; 409 before it starts
    "/report.md",
)
NEEDS_REVIEW = ("/vote",)


class World:
    """Real objects for one operation, by the names (path parameters, body fields) that
    address them; each is made on first use, in one group the signed-in user owns.

    Fresh per operation so that one operation deleting, archiving or cancelling something does
    not leave the next one nothing but 404s and 409s.
    """

    def __init__(self, api: Api, member_id: str, organization_id: str) -> None:
        self.api = api
        self.path = ""  # of the operation, which decides the state of some objects
        self.ids = {"org_id": organization_id, "organization_id": organization_id}
        for name in ("user_id", "owner_id", "speaker_id", "moderator_id"):
            self.ids[name] = member_id
        self.makers = {
            "group_id": self._group,
            "user_id": self._member,
            "owner_id": self._member,
            "speaker_id": self._member,
            "moderator_id": self._member,
            "area_id": self._area,
            "focus_area_id": self._area,
            "meeting_id": self._meeting,
            "item_id": self._agenda_item,
            "proposal_id": self._proposal,
            "action_item_id": self._action_item,
            "questionnaire_id": self._questionnaire,
            "poll_id": self._poll,
            "finding_id": self._finding,
            "webhook_id": self._webhook,
            "key_id": self._api_key,
        }
        self.made: set[str] = set()

    def __contains__(self, name: str) -> bool:
        return name in self.makers or name in self.ids

    def __getitem__(self, name: str) -> str:
        maker = self.makers.get(name)
        if maker is not None and maker.__name__ not in self.made:
            self.made.add(maker.__name__)
            maker()
        return self.ids[name]

    def _post(self, path: str, body: dict[str, Any]) -> str:
        return str(self.api.call("POST", path, 201, json=body)["id"])

    def _group(self) -> None:
        body = {"name": unique("group"), "visibility": "private"}
        self.ids["group_id"] = self._post("/groups", body)

    def _member(self) -> None:
        body = {"user_id": self.ids["user_id"], "role": "member"}
        self.api.call("POST", f"/groups/{self['group_id']}/members", 201, json=body)

    def _area(self) -> None:
        path = f"/groups/{self['group_id']}/focus-areas"
        self.ids["area_id"] = self.ids["focus_area_id"] = self._post(path, {"title": "Adoption"})

    def _meeting(self) -> None:
        body = {
            "title": "Plenary",
            "starts_at": "2030-09-17T15:00:00Z",
            "ends_at": "2030-09-17T16:00:00Z",
            "timezone": "America/Costa_Rica",
        }
        meeting = self._post(f"/groups/{self['group_id']}/meetings", body)
        if self.path.endswith(NEEDS_LIVE_MEETING):
            self.api.call("POST", f"/meetings/{meeting}/start")
        self.ids["meeting_id"] = meeting

    def _agenda_item(self) -> None:
        path = f"/meetings/{self['meeting_id']}/agenda-items"
        self.ids["item_id"] = self._post(path, {"title": "Welcome"})

    def _proposal(self) -> None:
        body = {"title": "Shared catalogue", "body": "Let us share one"}
        proposal = self._post(f"/groups/{self['group_id']}/proposals", body)
        if self.path.endswith(NEEDS_REVIEW):
            for state in ("submitted", "under_review"):
                self.api.call("POST", f"/proposals/{proposal}/transitions", json={"to": state})
        self.ids["proposal_id"] = proposal

    def _action_item(self) -> None:
        path = f"/groups/{self['group_id']}/action-items"
        self.ids["action_item_id"] = self._post(path, {"title": "Draft the catalogue"})

    def _questionnaire(self) -> None:
        """An open questionnaire (its responses route answers past the 409 of a draft)."""
        questions = [
            {"text": "Main barrier?", "kind": "single", "options": ["Cost", "Skills"]},
            {"text": "How visible is your cluster?", "kind": "scale"},
        ]
        body = {"title": "Interviews", "questions": questions}
        questionnaire = self._post(f"/groups/{self['group_id']}/questionnaires", body)
        if not self.path.endswith("/open"):
            self.api.call("POST", f"/questionnaires/{questionnaire}/open")
        self.ids["questionnaire_id"] = questionnaire

    def _poll(self) -> None:
        body = {"title": "Next venue", "kind": "single", "options": ["Lima", "Quito"]}
        self.ids["poll_id"] = self._post(f"/groups/{self['group_id']}/polls", body)

    def _finding(self) -> None:
        body = {"title": "Few shared services", "kind": "barrier"}
        self.ids["finding_id"] = self._post(f"/groups/{self['group_id']}/findings", body)

    def _webhook(self) -> None:
        body = {"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}
        self.ids["webhook_id"] = self._post(f"/groups/{self['group_id']}/webhooks", body)

    def _api_key(self) -> None:
        self.ids["key_id"] = self._post("/auth/api-keys", {"name": unique("key")})


@pytest.fixture
def world(
    base_url: str, owner: tuple[str, str], member: tuple[str, str], organization: str
) -> Iterator[World]:
    api = Api(base_url, owner[1])
    with api.session:
        yield World(api, member[0], organization)


def _coin(key: object, sides: int) -> int:
    """A reproducible coin flip keyed by generated data (same run, same choices)."""
    return hashlib.sha256(repr(key).encode()).digest()[0] % sides


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _point_at_real_objects(case: schemathesis.Case, world: World) -> None:
    """Most of the time, address real objects instead of random UUIDs, so that operations are
    exercised past the 404. Only valid UUIDs are swapped: invalid ones are the point of a
    negative case."""
    seed = repr((case.path_parameters, case.query, case.body))
    params = {
        name: world[name]
        for name, value in (case.path_parameters or {}).items()
        if name in world and _is_uuid(value) and _coin((seed, name), 4)
    }
    if params:  # assigned anew, so that schemathesis revalidates the case
        case.path_parameters = {**case.path_parameters, **params}
    if isinstance(case.body, dict):
        fields = {
            name: world[name]
            for name, value in case.body.items()
            if name in world and _is_uuid(value) and _coin((seed, name), 2)
        }
        if fields:
            case.body = {**case.body, **fields}


# Operations that end the caller's sessions: they get a throwaway user's token, or the owner's
# token would stop working for every operation after them.
ENDS_SESSIONS = {"/auth/sign-out", "/auth/sign-out-everywhere", "/users/me/password"}


# `world` is per operation, on purpose (see there), not per example.
@hypothesis.settings(suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@schema.parametrize()
def test_api_contract(
    case: schemathesis.Case, base_url: str, owner: tuple[str, str], world: World
) -> None:
    if case.headers.get("Authorization") == STAND_IN:
        token = owner[1]
        if case.operation.path.removeprefix("/api/v1") in ENDS_SESSIONS:
            token = _sign_up(base_url, "fuzz-leaving")[1]
        case.headers["Authorization"] = f"Bearer {token}"
    world.path = case.operation.path
    _point_at_real_objects(case, world)
    case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30)


# --- the headers the document promises are sent ---------------------------------------------------


def _sends_etag(operation: dict[str, Any]) -> bool:
    return any("ETag" in r.get("headers", {}) for r in operation["responses"].values())


# The operations documented to answer a single resource with its ETag, but for creations (a
# POST with a body): those are left to the schemathesis run above.
ETAG_OPERATIONS = [
    (method.upper(), path.removeprefix("/api/v1"))
    for path, methods in DOCUMENT["paths"].items()
    for method, operation in methods.items()
    if _sends_etag(operation)
    and not (method == "post" and operation.get("requestBody", {}).get("required"))
]

# A valid body for each of them that needs one; an empty patch changes nothing and still
# answers the resource.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/organizations/{org_id}/offers-needs"): {"offers": [], "needs": []},
    ("PUT", "/meetings/{meeting_id}/minutes"): {"body": "Welcome and intros"},
    ("PUT", "/polls/{poll_id}/stance"): {"choices": ["o1"]},
    ("PUT", "/users/me/notification-preferences"): {"email": "off"},
}

# What some of them need first, or they have nothing to answer (409, 404).
PREPARE: dict[tuple[str, str], tuple[str, str, dict[str, Any] | None]] = {
    ("POST", "/meetings/{meeting_id}/agenda/advance"): (
        "POST",
        "/meetings/{meeting_id}/agenda-items",
        {"title": "Welcome"},
    ),
    ("POST", "/meetings/{meeting_id}/hands/next"): ("POST", "/meetings/{meeting_id}/hands", None),
    ("GET", "/meetings/{meeting_id}/minutes"): (
        "PUT",
        "/meetings/{meeting_id}/minutes",
        {"body": "Welcome and intros", "published": True},
    ),
    ("PUT", "/proposals/{proposal_id}/endorsement"): (
        "POST",
        "/proposals/{proposal_id}/transitions",
        {"to": "submitted"},
    ),
}


def _fill(path: str, world: World) -> str:
    return re.sub(r"{(\w+)}", lambda m: world[m[1]], path)


@pytest.mark.parametrize(("method", "path"), ETAG_OPERATIONS)
def test_single_resources_send_their_etag(method: str, path: str, world: World) -> None:
    """A deterministic walk over what schemathesis reaches only by chance: every operation
    documented with an ETag answers one (API.md: "Single resources send an ETag")."""
    world.path = path
    if (method, path) in PREPARE:
        first, first_path, first_body = PREPARE[method, path]
        r = world.api.session.request(
            first, world.api.base + _fill(first_path, world), json=first_body, timeout=30
        )
        assert r.status_code < 300, (first, first_path, r.status_code, r.text)
    url = _fill(path, world)
    body = BODIES.get((method, path), {} if method in ("PATCH", "PUT") else None)
    r = world.api.session.request(method, world.api.base + url, json=body, timeout=30)
    assert r.status_code == 200, (method, path, r.status_code, r.text)
    assert re.fullmatch(r'"[0-9]+"', r.headers.get("ETag", "")), (method, path, r.headers)


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in DOCUMENT["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def test_the_document_names_the_headers_of_the_conventions() -> None:
    """API.md's conventions, as the document states them: `If-Match` on every PATCH, a
    `Retry-After` on every 429 and 503, `Idempotency-Key` on the POSTs of a signed-in caller
    (the ones app/core/idempotency.py deduplicates), and no stale name among the read models
    that carry an ETag."""
    schemas = DOCUMENT["components"]["schemas"]
    assert not VERSIONED_READS - set(schemas), "stale names"
    for method, path, operation in _operations():
        where = (method, path)
        headers = {
            p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"
        }
        if method == "patch":
            assert "if-match" in headers, where
        signed_in = bool(operation.get("security"))
        assert ("idempotency-key" in headers) == (method == "post" and signed_in), where
        for status, response in operation["responses"].items():
            if status in ("429", "503"):
                assert "Retry-After" in response.get("headers", {}), (where, status)


def test_a_replay_sends_the_documented_headers(base_url: str, owner: tuple[str, str]) -> None:
    """The stored answer comes back with its ETag and `Idempotent-Replayed: true`, as the
    document says; the first answer is no replay."""
    api = Api(base_url, owner[1])
    path = "/groups"
    documented = DOCUMENT["paths"]["/api/v1" + path]["post"]["responses"]["201"]["headers"]
    assert {"ETag", "Idempotent-Replayed"} <= set(documented)
    body = {"name": unique("group"), "visibility": "private"}
    key = {"Idempotency-Key": unique("key")}
    with api.session:
        first, again = (
            api.session.post(api.base + path, json=body, headers=key, timeout=30) for _ in "12"
        )
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["ETag"] == first.headers["ETag"] and again.json() == first.json()
