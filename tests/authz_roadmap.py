"""Authorization matrix rows for action items, their comments, the roadmap and CSV bulk work.

The world's item belongs to a plain member ("extra"): members may not change it (not theirs),
moderators and owners may. Members changing their own items is covered in
tests/test_action_items.py.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.authz_base import (
    API,
    Case,
    World,
    group_read,
    json_body,
    member_write,
    moderator_write,
    signed_in,
)

ITEM = f"{API}/action-items/{{action_item_id}}"
G = f"{API}/groups/{{group_id}}"


async def _item(client: httpx.AsyncClient, world: World, owner_id: str | None) -> str:
    r = await client.post(
        f"/groups/{world.group_id}/action-items",
        json={"title": "Map the clusters", "owner_id": owner_id},
        headers=world.users["owner"].headers,
    )
    assert r.status_code == 201, r.text
    item_id: str = r.json()["id"]
    return item_id


async def build(client: httpx.AsyncClient, world: World) -> None:
    world.ids["action_item_id"] = await _item(client, world, world.extra.id)


async def fresh_item(client: httpx.AsyncClient, world: World, caller: str) -> None:
    """An unowned item per caller to delete (1 event each)."""
    world.ids["action_item_id"] = await _item(client, world, None)


def rename(world: World, caller: str) -> dict[str, Any]:
    return {"json": {"title": f"Edited by the {caller}"}}


def csv_upload(world: World, caller: str) -> dict[str, Any]:
    return {"files": {"file": ("items.csv", b"title\nImported item\n", "text/csv")}}


MATRIX: dict[tuple[str, str], Case] = {
    # A member's new item is their own: created + assigned; moderators' are unowned here.
    ("POST", f"{G}/action-items"): Case(
        member_write(201), json_body({"title": "Survey"}), events=2 + 1 + 1
    ),
    ("GET", f"{G}/action-items"): Case(group_read()),
    ("GET", ITEM): Case(group_read()),
    ("PATCH", ITEM): Case(moderator_write(200), rename, events=2),
    ("DELETE", ITEM): Case(moderator_write(204), events=6 + 2, fresh=fresh_item),
    ("GET", f"{ITEM}/comments"): Case(group_read()),
    ("POST", f"{ITEM}/comments"): Case(member_write(201), json_body({"body": "On it"}), events=3),
    ("GET", f"{G}/roadmap"): Case(group_read()),
    ("GET", f"{G}/action-items.csv"): Case(group_read()),
    ("POST", f"{G}/action-items/import"): Case(moderator_write(200), csv_upload, events=2),
    ("GET", f"{API}/users/me/action-items"): Case(signed_in(200)),
}
