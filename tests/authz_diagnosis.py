"""Authorization matrix rows for the diagnosis: readers of the group read it, moderators and
owners write it."""

from __future__ import annotations

import httpx

from tests.authz_base import API, Case, World, group_read, json_body, moderator_write

F = f"{API}/findings/{{finding_id}}"


async def build(client: httpx.AsyncClient, world: World) -> None:
    moderator = world.users["moderator"].headers
    body = {"title": "Little visibility of each other's work", "kind": "barrier"}
    r = await client.post(f"/groups/{world.group_id}/findings", json=body, headers=moderator)
    assert r.status_code == 201, r.text
    world.ids["finding_id"] = r.json()["id"]
    r = await client.post(
        f"/groups/{world.group_id}/diagnosis/snapshots", json={"label": "v1"}, headers=moderator
    )
    assert r.status_code == 201, r.text
    world.ids["snapshot_id"] = r.json()["id"]


MATRIX: dict[tuple[str, str], Case] = {
    ("POST", f"{API}/groups/{{group_id}}/findings"): Case(
        moderator_write(201), json_body({"title": "Supply", "kind": "strength"}), events=2
    ),
    ("GET", f"{API}/groups/{{group_id}}/findings"): Case(group_read()),
    ("GET", F): Case(group_read()),
    ("PATCH", F): Case(moderator_write(200), json_body({"body": "Seen in interviews"}), events=2),
    ("GET", f"{F}/trace"): Case(group_read()),
    ("GET", f"{API}/groups/{{group_id}}/diagnosis"): Case(group_read()),
    ("POST", f"{API}/groups/{{group_id}}/diagnosis/snapshots"): Case(
        moderator_write(201), json_body({"label": "v2"}), events=2
    ),
    ("GET", f"{API}/groups/{{group_id}}/diagnosis/snapshots"): Case(group_read()),
    ("GET", f"{API}/diagnosis/snapshots/{{snapshot_id}}"): Case(group_read()),
}
