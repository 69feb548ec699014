"""Authorization matrix rows for the inbox and notification preferences.

Every route is the caller's own: anyone signed in may call them and sees only their own
notifications. The world's notification belongs to the group owner (the moderator assigned
them an item), so every other caller gets 404 for it.
"""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlmodel import col

from app.models import Event, Notification
from tests.authz_base import API, Case, World, json_body, signed_in
from tests.notifications_support import create_item, dispatch_group, make_dispatcher


async def build(client: httpx.AsyncClient, world: World) -> None:
    owner, moderator = world.users["owner"], world.users["moderator"]
    item = await create_item(client, moderator, world.group_id, owner_id=owner.id)
    # The test client's transport holds the app: dispatch like the worker would.
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    await dispatch_group(make_dispatcher(app), world.group_id)  # type: ignore[arg-type]
    async with app.state.session_factory() as session:  # type: ignore[attr-defined]
        note_id = (
            await session.execute(
                select(col(Notification.id))
                .join(Event, col(Event.id) == col(Notification.event_id))
                .where(
                    col(Event.subject_id) == uuid.UUID(item["id"]),
                    col(Notification.user_id) == uuid.UUID(owner.id),
                )
            )
        ).scalar_one()
    world.ids["notification_id"] = str(note_id)


def _owner_only(ok: int) -> dict[str, int]:
    return signed_in(404) | {"owner": ok}


PREFS = f"{API}/users/me/notification-preferences"

MATRIX: dict[tuple[str, str], Case] = {
    ("GET", f"{API}/notifications"): Case(signed_in(200)),
    ("GET", f"{API}/notifications/unread-count"): Case(signed_in(200)),
    ("POST", f"{API}/notifications/read-all"): Case(signed_in(200)),
    ("POST", f"{API}/notifications/{{notification_id}}/read"): Case(_owner_only(200)),
    ("GET", PREFS): Case(signed_in(200)),
    ("PUT", PREFS): Case(signed_in(200), json_body({"email": "daily", "muted_types": []})),
}
