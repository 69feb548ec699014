"""Small API helpers so tests read as scenarios."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

PASSWORD = "correct horse battery staple"


@dataclass
class TestUser:
    __test__ = False  # a helper, not a test class

    id: str
    email: str
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def make_user(client: httpx.AsyncClient, name: str = "user") -> TestUser:
    email = f"{unique(name)}@example.org"
    r = await client.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]
    r = await client.post("/auth/token", data={"username": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return TestUser(id=user_id, email=email, name=name, token=r.json()["access_token"])


async def make_group(
    client: httpx.AsyncClient, owner: TestUser, visibility: str = "private", **extra: Any
) -> dict[str, Any]:
    body = {"name": unique("group"), "visibility": visibility, **extra}
    r = await client.post("/groups", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    group: dict[str, Any] = r.json()
    return group


async def add_member(
    client: httpx.AsyncClient, owner: TestUser, group_id: str, user: TestUser, role: str
) -> None:
    r = await client.post(
        f"/groups/{group_id}/members",
        json={"user_id": user.id, "role": role},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text


async def events_of(
    client: httpx.AsyncClient, user: TestUser, group_id: str
) -> list[dict[str, Any]]:
    """Every event of the group, following cursors."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        r = await client.get(
            f"/groups/{group_id}/events",
            params={"after": after, "limit": 200},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        page = r.json()
        out.extend(page["items"])
        if page["next_cursor"] is None:
            return out
        after = int(page["next_cursor"])


async def events_about(
    client: httpx.AsyncClient, user: TestUser, group_id: str, subject_id: str
) -> list[dict[str, Any]]:
    """The group's events about one subject, in seq order."""
    events = await events_of(client, user, group_id)
    return [e for e in events if e["subject"]["id"] == subject_id]


async def eventually(check: Any, timeout: float = 20, interval: float = 0.05) -> Any:
    """Poll `await check()` until it returns something truthy, and return that.

    For state that another component (the worker) writes to the database, where there is no
    event to await; bounded by `timeout`.
    """
    import asyncio

    async with asyncio.timeout(timeout):
        while not (result := await check()):  # noqa: ASYNC110 (no event exists to await)
            await asyncio.sleep(interval)
    return result


@contextlib.contextmanager
def settings_changed(app: FastAPI, **updates: Any) -> Iterator[None]:
    """Run a block with some of the app's settings changed (code that reads
    `app.state.settings` per request or per connection sees them), then restore them."""
    original = app.state.settings
    app.state.settings = original.model_copy(update=updates)
    try:
        yield
    finally:
        app.state.settings = original


def metric(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when it is absent, as a
    counter that has not counted yet is)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
