from __future__ import annotations

import httpx

from tests.helpers import events_of, make_group, make_user


async def test_group_creation_records_events(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    events = await events_of(client, owner, group["id"])
    assert [(e["seq"], e["type"]) for e in events] == [(1, "group.created"), (2, "member.added")]
