"""Authorization matrix rows for webhooks: every webhook route is for the group's owners."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlmodel import col

from app.events.dispatch import Dispatcher
from app.models import Event
from app.webhooks.tasks import handle_events
from tests.authz_base import API, Case, World, json_body, owner_write

HOOK = f"{API}/webhooks/{{webhook_id}}"
DELIVERY = f"{HOOK}/deliveries/{{delivery_id}}"
RECEIVER = "http://127.0.0.1:9/hook"  # the discard port: nothing answers, nothing is sent


async def build(client: httpx.AsyncClient, world: World) -> None:
    owner = world.users["owner"]
    r = await client.post(
        f"/groups/{world.group_id}/webhooks",
        json={"url": RECEIVER, "event_types": ["*"]},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    world.ids["webhook_id"] = r.json()["id"]
    # A delivery, as the worker's dispatcher makes it for the group's next event.
    r = await client.patch(
        f"/groups/{world.group_id}", json={"description": "for a delivery"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    app = client._transport.app  # type: ignore[attr-defined]
    dispatcher = Dispatcher(
        settings=app.state.settings,
        session_factory=app.state.session_factory,
        redis=app.state.redis,
        handlers=[handle_events],
    )
    async with app.state.session_factory() as session:
        event_id = (
            await session.execute(
                select(col(Event.id)).where(
                    col(Event.group_id) == uuid.UUID(world.group_id),
                    col(Event.type) == "group.updated",
                )
            )
        ).scalar_one()
    assert await dispatcher.dispatch(event_id)
    r = await client.get(f"/webhooks/{world.ids['webhook_id']}/deliveries", headers=owner.headers)
    world.ids["delivery_id"] = r.json()["items"][0]["id"]


HOOK_BODY = json_body({"url": RECEIVER, "event_types": ["meeting.*"]})

MATRIX: dict[tuple[str, str], Case] = {
    ("POST", f"{API}/groups/{{group_id}}/webhooks"): Case(owner_write(201), HOOK_BODY),
    ("GET", f"{API}/groups/{{group_id}}/webhooks"): Case(owner_write(200)),
    ("GET", HOOK): Case(owner_write(200)),
    ("PATCH", HOOK): Case(owner_write(200), json_body({"description": "renamed"})),
    ("DELETE", HOOK): Case(owner_write(204)),
    ("POST", f"{HOOK}/rotate-secret"): Case(owner_write(200)),
    ("POST", f"{HOOK}/test"): Case(owner_write(200)),
    ("GET", f"{HOOK}/deliveries"): Case(owner_write(200)),
    ("GET", DELIVERY): Case(owner_write(200)),
    ("POST", f"{DELIVERY}/redeliver"): Case(owner_write(202)),
}
