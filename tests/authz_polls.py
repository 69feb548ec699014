"""Authorization matrix rows for polls.

The world's poll was opened by a plain member ("extra"), so the author is none of the callers:
members may answer but not close it; moderators and owners may close (each a fresh poll).
"""

from __future__ import annotations

import httpx

from tests.authz_base import API, Case, World, group_read, json_body, member_write, moderator_write

P = f"{API}/polls/{{poll_id}}"


async def _poll(client: httpx.AsyncClient, world: World) -> str:
    body = {"title": "Which focus area first?", "kind": "single", "options": ["A", "B"]}
    r = await client.post(f"/groups/{world.group_id}/polls", json=body, headers=world.extra.headers)
    assert r.status_code == 201, r.text
    poll_id: str = r.json()["id"]
    return poll_id


async def build(client: httpx.AsyncClient, world: World) -> None:
    world.ids["poll_id"] = await _poll(client, world)


async def fresh_poll(client: httpx.AsyncClient, world: World, caller: str) -> None:
    """Each caller tries to close a poll of its own (1 event each)."""
    world.ids["poll_id"] = await _poll(client, world)


MATRIX: dict[tuple[str, str], Case] = {
    ("POST", f"{API}/groups/{{group_id}}/polls"): Case(
        member_write(201),
        json_body({"title": "Dates", "kind": "multiple", "options": ["A", "B"], "max_choices": 2}),
        events=3,
    ),
    ("GET", f"{API}/groups/{{group_id}}/polls"): Case(group_read()),
    ("GET", P): Case(group_read()),
    ("PUT", f"{P}/stance"): Case(member_write(200), json_body({"choices": ["o1"]}), events=3),
    ("GET", f"{P}/stances"): Case(group_read()),
    # Six fresh polls, two of them closed.
    ("POST", f"{P}/close"): Case(
        moderator_write(200), json_body({"outcome": "A first"}), fresh=fresh_poll, events=8
    ),
}
