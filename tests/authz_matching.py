"""Authorization matrix rows for the taxonomy, offers and needs, matches and introductions.

The world's organization (registered by the owner) is the one the group's plain member
represents, and needs ERP; a second organization offers it, so an introduction can succeed.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.authz_base import (
    API,
    CALLERS,
    Case,
    World,
    group_read,
    json_body,
    moderator_write,
    signed_in,
)
from tests.helpers import unique

G = f"{API}/groups/{{group_id}}"
# The offering organization of each world, by its group (World.ids holds path parameters only).
OFFERING: dict[str, str] = {}


async def build(client: httpx.AsyncClient, world: World) -> None:
    owner = world.users["owner"].headers
    r = await client.patch(
        f"/groups/{world.group_id}/members/{world.users['member'].id}",
        json={"organization_id": world.org_id},
        headers=owner,
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        f"/organizations/{world.org_id}/offers-needs",
        json={"offers": [], "needs": ["erp"]},
        headers=owner,
    )
    assert r.status_code == 200, r.text
    body = {"name": unique("supplier"), "kind": "company", "country": "MX", "offers": ["erp"]}
    r = await client.post("/organizations", json=body, headers=owner)
    assert r.status_code == 201, r.text
    OFFERING[world.group_id] = r.json()["id"]


def introduction(world: World, caller: str) -> dict[str, Any]:
    return {
        "json": {
            "need_organization_id": world.org_id,
            "offer_organization_id": OFFERING[world.group_id],
            "terms": ["erp"],
        }
    }


MATRIX: dict[tuple[str, str], Case] = {
    ("GET", f"{API}/taxonomy/technologies"): Case(signed_in(200)),
    # Whoever registered the organization (the owner) and whoever represents it in a group
    # (the member); not the rest of the group.
    ("PUT", f"{API}/organizations/{{org_id}}/offers-needs"): Case(
        {c: 403 for c in CALLERS} | {"anonymous": 401, "member": 200, "owner": 200},
        json_body({"offers": ["cloud"], "needs": ["erp", "ai"]}),
    ),
    ("GET", f"{G}/matches"): Case(group_read()),
    # The item's created and assigned events, then match.introduced.
    ("POST", f"{G}/introductions"): Case(moderator_write(201), introduction, events=2 * 3),
    ("GET", f"{G}/introductions"): Case(group_read()),
    ("GET", f"{G}/introductions/stats"): Case(group_read()),
}
