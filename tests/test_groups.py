"""Groups, members, focus areas and the group event history, through the HTTP API."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.helpers import TestUser as ApiUser
from tests.helpers import add_member, events_of, make_group, make_user, unique


async def all_groups(
    client: httpx.AsyncClient, user: ApiUser, **params: Any
) -> dict[str, dict[str, Any]]:
    """Every group `user` can list, following cursors (the test database keeps growing)."""
    out: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        query = {"limit": 200, **params, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/groups", params=query, headers=user.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        out.update({g["id"]: g for g in page["items"]})
        cursor = page["next_cursor"]
        if cursor is None:
            return out


async def create_org(client: httpx.AsyncClient, user: ApiUser) -> dict[str, Any]:
    r = await client.post(
        "/organizations",
        json={"name": unique("org"), "kind": "cluster", "country": "CR"},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    org: dict[str, Any] = r.json()
    return org


async def create_area(
    client: httpx.AsyncClient, owner: ApiUser, group_id: str, title: str, **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        f"/groups/{group_id}/focus-areas", json={"title": title, **extra}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    area: dict[str, Any] = r.json()
    return area


async def area_order(client: httpx.AsyncClient, user: ApiUser, group_id: str) -> list[tuple]:
    r = await client.get(f"/groups/{group_id}/focus-areas", headers=user.headers)
    assert r.status_code == 200, r.text
    return [(a["title"], a["position"]) for a in r.json()["items"]]


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


# --- creating and listing ------------------------------------------------------------------


async def test_creator_becomes_owner_and_events_start_at_one(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    r = await client.post(
        "/groups",
        json={"name": "Digital clusters", "description": "LAC network", "visibility": "private"},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    group = r.json()
    assert group["my_role"] == "owner"
    assert group["visibility"] == "private"
    assert group["archived_at"] is None
    assert group["last_seq"] == 2
    assert r.headers["ETag"]

    r = await client.get(f"/groups/{group['id']}", headers=owner.headers)
    assert r.status_code == 200
    assert r.json()["my_role"] == "owner"

    r = await client.get(f"/groups/{group['id']}/members", headers=owner.headers)
    assert r.status_code == 200
    assert [(m["user_id"], m["role"]) for m in r.json()["items"]] == [(owner.id, "owner")]

    events = await events_of(client, owner, group["id"])
    assert [(e["seq"], e["type"]) for e in events] == [(1, "group.created"), (2, "member.added")]
    created, added = events
    assert created["subject"] == {"type": "group", "id": group["id"]}
    assert created["actor_id"] == owner.id
    assert created["group_id"] == group["id"]
    assert created["data"]["group"]["name"] == "Digital clusters"
    assert added["subject"] == {"type": "member", "id": owner.id}
    assert added["data"]["member"]["role"] == "owner"


async def test_default_visibility_is_private(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    outsider = await make_user(client, "outsider")
    r = await client.post("/groups", json={"name": unique("g")}, headers=owner.headers)
    assert r.status_code == 201, r.text
    assert r.json()["visibility"] == "private"
    r = await client.get(f"/groups/{r.json()['id']}", headers=outsider.headers)
    assert r.status_code == 404


async def test_list_shows_public_and_own_private_groups(client: httpx.AsyncClient) -> None:
    alice = await make_user(client, "alice")
    bob = await make_user(client, "bob")
    alice_public = await make_group(client, alice, "public")
    alice_private = await make_group(client, alice, "private")
    bob_public = await make_group(client, bob, "public")
    bob_private = await make_group(client, bob, "private")
    bob_private_with_alice = await make_group(client, bob, "private")
    await add_member(client, bob, bob_private_with_alice["id"], alice, "observer")

    seen = await all_groups(client, alice)
    for g in (alice_public, alice_private, bob_public, bob_private_with_alice):
        assert g["id"] in seen
    assert bob_private["id"] not in seen
    assert seen[alice_private["id"]]["my_role"] == "owner"
    assert seen[bob_private_with_alice["id"]]["my_role"] == "observer"
    assert seen[bob_public["id"]]["my_role"] is None

    r = await client.get("/groups")
    assert r.status_code == 401


# --- visibility ----------------------------------------------------------------------------


async def test_private_group_is_invisible_to_non_members(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    outsider = await make_user(client, "outsider")
    group = await make_group(client, owner, "private")
    gid = group["id"]
    area = await create_area(client, owner, gid, "Adoption")
    h = outsider.headers

    reads = [
        f"/groups/{gid}",
        f"/groups/{gid}/members",
        f"/groups/{gid}/members/{owner.id}",
        f"/groups/{gid}/focus-areas",
        f"/focus-areas/{area['id']}",
        f"/groups/{gid}/events",
    ]
    for path in reads:
        r = await client.get(path, headers=h)
        assert r.status_code == 404, (path, r.text)

    writes = [
        client.patch(f"/groups/{gid}", json={"name": "taken over"}, headers=h),
        client.post(f"/groups/{gid}/archive", headers=h),
        client.post(f"/groups/{gid}/focus-areas", json={"title": "x"}, headers=h),
        client.patch(f"/focus-areas/{area['id']}", json={"title": "x"}, headers=h),
        client.delete(f"/focus-areas/{area['id']}", headers=h),
        client.post(f"/groups/{gid}/members", json={"user_id": outsider.id}, headers=h),
        client.delete(f"/groups/{gid}/members/{outsider.id}", headers=h),
    ]
    for request in writes:
        r = await request
        assert r.status_code == 404, (r.request.method, r.request.url, r.text)

    # Same answer as for a group that does not exist: existence is not leaked.
    hidden = await client.get(f"/groups/{gid}", headers=h)
    missing = await client.get(f"/groups/{uuid.uuid4()}", headers=h)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()

    assert gid not in await all_groups(client, outsider)
    assert [e["seq"] for e in await events_of(client, owner, gid)] == [1, 2, 3]


async def test_public_group_is_readable_but_not_writable_by_non_members(
    client: httpx.AsyncClient,
) -> None:
    owner = await make_user(client, "owner")
    reader = await make_user(client, "reader")
    group = await make_group(client, owner, "public")
    gid = group["id"]
    area = await create_area(client, owner, gid, "Supply")
    h = reader.headers

    r = await client.get(f"/groups/{gid}", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["my_role"] is None
    for path in (
        f"/groups/{gid}/members",
        f"/groups/{gid}/members/{owner.id}",
        f"/groups/{gid}/focus-areas",
        f"/focus-areas/{area['id']}",
        f"/groups/{gid}/events",
    ):
        r = await client.get(path, headers=h)
        assert r.status_code == 200, (path, r.text)

    writes = [
        client.patch(f"/groups/{gid}", json={"name": "taken over"}, headers=h),
        client.post(f"/groups/{gid}/archive", headers=h),
        client.post(f"/groups/{gid}/focus-areas", json={"title": "x"}, headers=h),
        client.patch(f"/focus-areas/{area['id']}", json={"title": "x"}, headers=h),
        client.delete(f"/focus-areas/{area['id']}", headers=h),
        client.post(f"/groups/{gid}/members", json={"user_id": reader.id}, headers=h),
        client.patch(f"/groups/{gid}/members/{owner.id}", json={"role": "member"}, headers=h),
        client.delete(f"/groups/{gid}/members/{owner.id}", headers=h),
    ]
    for request in writes:
        r = await request
        assert r.status_code == 403, (r.request.method, r.request.url, r.text)
    # "Leaving" a visible group one never joined: there is no such membership.
    r = await client.delete(f"/groups/{gid}/members/{reader.id}", headers=h)
    assert r.status_code == 404, r.text

    r = await client.get(f"/groups/{gid}")
    assert r.status_code == 401
    assert [e["seq"] for e in await events_of(client, owner, gid)] == [1, 2, 3]


# --- members -------------------------------------------------------------------------------


async def test_add_members_by_email_and_by_user_id(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    by_email = await make_user(client, "ana")
    by_id = await make_user(client, "bruno")
    org = await create_org(client, owner)
    gid = (await make_group(client, owner))["id"]

    r = await client.post(
        f"/groups/{gid}/members",
        json={"email": by_email.email.upper(), "role": "moderator"},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    assert r.headers["ETag"]
    assert r.json()["user_id"] == by_email.id
    assert r.json()["name"] == "ana"
    assert r.json()["role"] == "moderator"
    assert r.json()["organization_id"] is None

    r = await client.post(
        f"/groups/{gid}/members",
        json={"user_id": by_id.id, "organization_id": org["id"]},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "member"  # the default
    assert r.json()["organization_id"] == org["id"]

    r = await client.get(f"/groups/{gid}/members", headers=by_id.headers)
    assert r.status_code == 200
    members = {m["user_id"]: m["role"] for m in r.json()["items"]}
    assert members == {owner.id: "owner", by_email.id: "moderator", by_id.id: "member"}

    r = await client.get(f"/groups/{gid}", headers=by_email.headers)
    assert r.json()["my_role"] == "moderator"


async def test_add_member_refusals_change_nothing(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    user = await make_user(client, "user")
    gid = (await make_group(client, owner))["id"]
    await add_member(client, owner, gid, user, "member")
    url = f"/groups/{gid}/members"

    r = await client.post(
        url, json={"email": f"{unique('nobody')}@example.org"}, headers=owner.headers
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["loc"] == ["body", "email"]

    r = await client.post(url, json={"user_id": str(uuid.uuid4())}, headers=owner.headers)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "user_id"]

    r = await client.post(url, json={"user_id": user.id}, headers=owner.headers)
    assert r.status_code == 409, r.text
    r = await client.post(url, json={"email": user.email}, headers=owner.headers)
    assert r.status_code == 409, r.text

    newcomer = await make_user(client, "newcomer")
    r = await client.post(
        url,
        json={"user_id": newcomer.id, "organization_id": str(uuid.uuid4())},
        headers=owner.headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "organization_id"]

    for body in (
        {},  # neither identity
        {"user_id": newcomer.id, "email": newcomer.email},  # both
        {"user_id": newcomer.id, "role": "admin"},
        {"user_id": newcomer.id, "is_admin": True},
    ):
        r = await client.post(url, json=body, headers=owner.headers)
        assert r.status_code == 422, (body, r.text)

    r = await client.get(f"/groups/{gid}/members/{newcomer.id}", headers=owner.headers)
    assert r.status_code == 404
    assert types(await events_of(client, owner, gid)) == [
        "group.created",
        "member.added",
        "member.added",
    ]


async def test_patch_member_role_honours_if_match(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    user = await make_user(client, "user")
    org = await create_org(client, owner)
    gid = (await make_group(client, owner))["id"]
    await add_member(client, owner, gid, user, "member")
    url = f"/groups/{gid}/members/{user.id}"

    r = await client.get(url, headers=owner.headers)
    assert r.status_code == 200
    etag = r.headers["ETag"]

    r = await client.patch(
        url, json={"role": "moderator"}, headers={**owner.headers, "If-Match": '"999"'}
    )
    assert r.status_code == 412, r.text

    r = await client.patch(
        url,
        json={"role": "moderator", "organization_id": org["id"]},
        headers={**owner.headers, "If-Match": etag},
    )
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "moderator"
    assert r.json()["organization_id"] == org["id"]
    assert r.headers["ETag"] != etag

    # The old ETag is stale now.
    r = await client.patch(
        url, json={"role": "observer"}, headers={**owner.headers, "If-Match": etag}
    )
    assert r.status_code == 412, r.text
    r = await client.get(url, headers=user.headers)
    assert r.json()["role"] == "moderator"

    # A moderator is not an owner: members are managed by owners only.
    r = await client.patch(url, json={"role": "owner"}, headers=user.headers)
    assert r.status_code == 403, r.text

    r = await client.patch(url, json={"organization_id": str(uuid.uuid4())}, headers=owner.headers)
    assert r.status_code == 422, r.text
    r = await client.patch(f"/groups/{gid}/members/{uuid.uuid4()}", json={}, headers=owner.headers)
    assert r.status_code == 404, r.text

    updated = [e for e in await events_of(client, owner, gid) if e["type"] == "member.updated"]
    assert len(updated) == 1
    assert updated[0]["data"]["changes"] == {
        "role": {"old": "member", "new": "moderator"},
        "organization_id": {"old": None, "new": org["id"]},
    }


async def test_last_owner_cannot_be_demoted_or_removed(client: httpx.AsyncClient) -> None:
    first = await make_user(client, "first")
    second = await make_user(client, "second")
    gid = (await make_group(client, first))["id"]

    r = await client.patch(
        f"/groups/{gid}/members/{first.id}", json={"role": "moderator"}, headers=first.headers
    )
    assert r.status_code == 409, r.text
    r = await client.delete(f"/groups/{gid}/members/{first.id}", headers=first.headers)
    assert r.status_code == 409, r.text

    # With a second owner, the first may step down; then the second is the last one.
    await add_member(client, first, gid, second, "owner")
    r = await client.patch(
        f"/groups/{gid}/members/{first.id}", json={"role": "member"}, headers=second.headers
    )
    assert r.status_code == 200, r.text
    r = await client.patch(
        f"/groups/{gid}/members/{second.id}", json={"role": "member"}, headers=second.headers
    )
    assert r.status_code == 409, r.text
    r = await client.delete(f"/groups/{gid}/members/{second.id}", headers=second.headers)
    assert r.status_code == 409, r.text

    r = await client.get(f"/groups/{gid}/members", headers=first.headers)
    roles = {m["user_id"]: m["role"] for m in r.json()["items"]}
    assert roles == {first.id: "member", second.id: "owner"}
    assert types(await events_of(client, first, gid)) == [
        "group.created",
        "member.added",
        "member.added",
        "member.updated",
    ]


async def test_member_may_leave_and_then_loses_access(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    leaver = await make_user(client, "leaver")
    other = await make_user(client, "other")
    gid = (await make_group(client, owner))["id"]
    await add_member(client, owner, gid, leaver, "observer")
    await add_member(client, owner, gid, other, "member")

    # Members may remove only themselves.
    r = await client.delete(f"/groups/{gid}/members/{other.id}", headers=leaver.headers)
    assert r.status_code == 403, r.text

    r = await client.delete(f"/groups/{gid}/members/{leaver.id}", headers=leaver.headers)
    assert r.status_code == 204, r.text
    assert r.content == b""

    for path in (f"/groups/{gid}", f"/groups/{gid}/members", f"/groups/{gid}/events"):
        r = await client.get(path, headers=leaver.headers)
        assert r.status_code == 404, (path, r.text)
    assert gid not in await all_groups(client, leaver)

    r = await client.get(f"/groups/{gid}/members/{leaver.id}", headers=owner.headers)
    assert r.status_code == 404
    removed = (await events_of(client, owner, gid))[-1]
    assert removed["type"] == "member.removed"
    assert removed["actor_id"] == leaver.id
    assert removed["subject"] == {"type": "member", "id": leaver.id}
    assert removed["data"]["member"]["role"] == "observer"


async def test_member_events_describe_each_change(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    user = await make_user(client, "user")
    gid = (await make_group(client, owner))["id"]

    await add_member(client, owner, gid, user, "member")
    r = await client.patch(
        f"/groups/{gid}/members/{user.id}", json={"role": "observer"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    # A PATCH that changes nothing records nothing.
    r = await client.patch(
        f"/groups/{gid}/members/{user.id}", json={"role": "observer"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    r = await client.delete(f"/groups/{gid}/members/{user.id}", headers=owner.headers)
    assert r.status_code == 204, r.text

    events = (await events_of(client, owner, gid))[2:]
    assert [(e["seq"], e["type"]) for e in events] == [
        (3, "member.added"),
        (4, "member.updated"),
        (5, "member.removed"),
    ]
    for e in events:
        assert e["subject"] == {"type": "member", "id": user.id}
        assert e["actor_id"] == owner.id
        assert e["data"]["member"]["user_id"] == user.id
    added, updated, removed = events
    assert added["data"]["member"]["role"] == "member"
    assert updated["data"]["changes"] == {"role": {"old": "member", "new": "observer"}}
    assert updated["data"]["member"]["role"] == "observer"
    assert removed["data"]["member"]["role"] == "observer"


# --- archiving -----------------------------------------------------------------------------


async def test_archived_group_is_read_only(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    moderator = await make_user(client, "moderator")
    newcomer = await make_user(client, "newcomer")
    group = await make_group(client, owner)
    gid = group["id"]
    await add_member(client, owner, gid, moderator, "moderator")
    area = await create_area(client, owner, gid, "Visibility")

    r = await client.post(f"/groups/{gid}/archive", headers=moderator.headers)
    assert r.status_code == 403, r.text

    r = await client.post(f"/groups/{gid}/archive", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["archived_at"] is not None
    seq_after_archive = r.json()["last_seq"]
    archived = (await events_of(client, owner, gid))[-1]
    assert archived["type"] == "group.archived"
    assert archived["seq"] == seq_after_archive

    refused = [
        client.post(f"/groups/{gid}/archive", headers=owner.headers),
        client.patch(f"/groups/{gid}", json={"name": "renamed"}, headers=owner.headers),
        client.post(f"/groups/{gid}/focus-areas", json={"title": "x"}, headers=owner.headers),
        client.patch(f"/focus-areas/{area['id']}", json={"title": "x"}, headers=owner.headers),
        client.delete(f"/focus-areas/{area['id']}", headers=owner.headers),
        client.post(f"/groups/{gid}/members", json={"user_id": newcomer.id}, headers=owner.headers),
        client.patch(
            f"/groups/{gid}/members/{moderator.id}", json={"role": "member"}, headers=owner.headers
        ),
        client.delete(f"/groups/{gid}/members/{moderator.id}", headers=owner.headers),
    ]
    for request in refused:
        r = await request
        assert r.status_code == 409, (r.request.method, r.request.url, r.text)

    for path in (
        f"/groups/{gid}",
        f"/groups/{gid}/members",
        f"/groups/{gid}/members/{moderator.id}",
        f"/groups/{gid}/focus-areas",
        f"/focus-areas/{area['id']}",
        f"/groups/{gid}/events",
    ):
        r = await client.get(path, headers=moderator.headers)
        assert r.status_code == 200, (path, r.text)

    r = await client.get(f"/groups/{gid}", headers=owner.headers)
    assert r.json()["last_seq"] == seq_after_archive
    assert r.json()["name"] == group["name"]

    assert gid not in await all_groups(client, owner)
    with_archived = await all_groups(client, owner, include_archived="true")
    assert with_archived[gid]["archived_at"] is not None


# --- PATCH group ---------------------------------------------------------------------------


async def test_patch_group_records_changes(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    gid = group["id"]

    r = await client.get(f"/groups/{gid}", headers=owner.headers)
    etag = r.headers["ETag"]
    r = await client.patch(
        f"/groups/{gid}",
        json={"name": "Renamed", "visibility": "public"},
        headers={**owner.headers, "If-Match": etag},
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed"
    assert r.json()["visibility"] == "public"
    r = await client.patch(
        f"/groups/{gid}", json={"name": "Again"}, headers={**owner.headers, "If-Match": etag}
    )
    assert r.status_code == 412, r.text

    event = (await events_of(client, owner, gid))[-1]
    assert event["type"] == "group.updated"
    assert event["data"]["changes"] == {
        "name": {"old": group["name"], "new": "Renamed"},
        "visibility": {"old": "private", "new": "public"},
    }


# --- focus areas ---------------------------------------------------------------------------


async def test_focus_areas_keep_their_order(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    observer = await make_user(client, "observer")
    gid = (await make_group(client, owner))["id"]
    await add_member(client, owner, gid, observer, "observer")

    a = await create_area(client, owner, gid, "A", description="first")
    b = await create_area(client, owner, gid, "B")
    c = await create_area(client, owner, gid, "C")
    assert [a["position"], b["position"], c["position"]] == [1, 2, 3]
    assert a["description"] == "first"
    assert a["group_id"] == gid

    d = await create_area(client, owner, gid, "D", position=1)
    assert d["position"] == 1
    assert await area_order(client, observer, gid) == [("D", 1), ("A", 2), ("B", 3), ("C", 4)]

    # A position past the end means "last".
    last = await create_area(client, owner, gid, "E", position=99)
    assert last["position"] == 5

    r = await client.get(f"/focus-areas/{d['id']}", headers=observer.headers)
    assert r.status_code == 200
    etag = r.headers["ETag"]
    r = await client.patch(
        f"/focus-areas/{d['id']}", json={"position": 3}, headers={**owner.headers, "If-Match": etag}
    )
    assert r.status_code == 200, r.text
    assert r.json()["position"] == 3
    assert await area_order(client, observer, gid) == [
        ("A", 1),
        ("B", 2),
        ("D", 3),
        ("C", 4),
        ("E", 5),
    ]
    r = await client.patch(
        f"/focus-areas/{d['id']}", json={"title": "D2"}, headers={**owner.headers, "If-Match": etag}
    )
    assert r.status_code == 412, r.text

    r = await client.delete(f"/focus-areas/{b['id']}", headers=owner.headers)
    assert r.status_code == 204, r.text
    assert await area_order(client, observer, gid) == [("A", 1), ("D", 2), ("C", 3), ("E", 4)]
    r = await client.get(f"/focus-areas/{b['id']}", headers=owner.headers)
    assert r.status_code == 404

    r = await client.post(f"/groups/{gid}/focus-areas", json={"title": ""}, headers=owner.headers)
    assert r.status_code == 422
    r = await client.post(
        f"/groups/{gid}/focus-areas", json={"title": "x", "position": 0}, headers=owner.headers
    )
    assert r.status_code == 422

    events = (await events_of(client, owner, gid))[3:]  # after the observer's member.added
    assert types(events) == ["focus_area.created"] * 5 + [
        "focus_area.updated",
        "focus_area.deleted",
    ]
    assert [e["subject"]["id"] for e in events] == [
        a["id"],
        b["id"],
        c["id"],
        d["id"],
        last["id"],
        d["id"],
        b["id"],
    ]
    assert all(e["subject"]["type"] == "focus_area" for e in events)
    assert events[0]["data"]["focus_area"]["title"] == "A"
    assert events[5]["data"]["changes"] == {"position": {"old": 1, "new": 3}}
    assert events[5]["data"]["focus_area"]["position"] == 3
    assert events[6]["data"]["focus_area"]["title"] == "B"


async def test_focus_area_update_of_title_and_description(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    gid = (await make_group(client, owner))["id"]
    area = await create_area(client, owner, gid, "Old title")

    r = await client.patch(
        f"/focus-areas/{area['id']}",
        json={"title": "New title", "description": "why"},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["title"], r.json()["description"], r.json()["position"]) == (
        "New title",
        "why",
        1,
    )
    event = (await events_of(client, owner, gid))[-1]
    assert event["type"] == "focus_area.updated"
    assert event["data"]["changes"] == {
        "title": {"old": "Old title", "new": "New title"},
        "description": {"old": None, "new": "why"},
    }


# --- event history -------------------------------------------------------------------------


async def test_events_page_by_after_limit_and_cursor(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    gid = (await make_group(client, owner))["id"]
    other_gid = (await make_group(client, owner))["id"]
    for i in range(7):
        await create_area(client, owner, gid, f"area {i}")
    await create_area(client, owner, other_gid, "elsewhere")
    url = f"/groups/{gid}/events"

    seen: list[int] = []
    pages = 0
    params: dict[str, Any] = {"limit": 4}
    while True:
        r = await client.get(url, params=params, headers=owner.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        pages += 1
        seen.extend(e["seq"] for e in page["items"])
        if page["next_cursor"] is None:
            break
        assert page["next_cursor"] == str(page["items"][-1]["seq"])
        params = {"limit": 4, "cursor": page["next_cursor"]}
    assert seen == list(range(1, 10))
    assert pages == 3

    r = await client.get(url, params={"after": 3, "limit": 2}, headers=owner.headers)
    page = r.json()
    assert [e["seq"] for e in page["items"]] == [4, 5]
    assert page["next_cursor"] == "5"

    r = await client.get(url, params={"after": 6, "limit": 3}, headers=owner.headers)
    page = r.json()
    assert [e["seq"] for e in page["items"]] == [7, 8, 9]
    assert page["next_cursor"] is None  # exactly the rest: no empty page to fetch

    r = await client.get(url, params={"after": 9}, headers=owner.headers)
    assert r.json() == {"items": [], "next_cursor": None}

    r = await client.get(url, headers=owner.headers)
    items = r.json()["items"]
    assert [e["seq"] for e in items] == list(range(1, 10))
    assert {e["group_id"] for e in items} == {gid}
    assert set(items[0]) == {
        "id",
        "seq",
        "type",
        "group_id",
        "occurred_at",
        "actor_id",
        "subject",
        "data",
    }
    assert items[0]["occurred_at"].endswith("Z")
    assert len({e["id"] for e in items}) == 9

    for bad in ({"limit": 0}, {"limit": 201}, {"after": -1}, {"cursor": "abc"}):
        r = await client.get(url, params=bad, headers=owner.headers)
        assert r.status_code == 422, (bad, r.text)


# --- concurrent writers (the group lock makes read-then-write checks safe) -----------------


async def test_concurrent_adds_of_the_same_user_give_one_member(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    user = await make_user(client, "user")
    gid = (await make_group(client, owner))["id"]

    responses = await asyncio.gather(
        *(
            client.post(f"/groups/{gid}/members", json={"user_id": user.id}, headers=owner.headers)
            for _ in range(5)
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409], [
        r.text for r in responses
    ]
    assert types(await events_of(client, owner, gid)) == [
        "group.created",
        "member.added",
        "member.added",
    ]


async def test_two_owners_demoting_each_other_leave_one_owner(client: httpx.AsyncClient) -> None:
    first = await make_user(client, "first")
    second = await make_user(client, "second")
    gid = (await make_group(client, first))["id"]
    await add_member(client, first, gid, second, "owner")

    responses = await asyncio.gather(
        client.patch(
            f"/groups/{gid}/members/{second.id}", json={"role": "member"}, headers=first.headers
        ),
        client.patch(
            f"/groups/{gid}/members/{first.id}", json={"role": "member"}, headers=second.headers
        ),
    )
    # The loser is refused either as no longer an owner (403, if it was authorized after the
    # winner committed) or as about to remove the last owner (409); never both succeed.
    assert sorted(r.status_code for r in responses) in ([200, 403], [200, 409]), [
        r.text for r in responses
    ]

    r = await client.get(f"/groups/{gid}/members", headers=first.headers)
    roles = sorted(m["role"] for m in r.json()["items"])
    assert roles == ["member", "owner"]


async def test_archiving_twice_at_once_is_one_archive(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    gid = (await make_group(client, owner))["id"]

    responses = await asyncio.gather(
        *(client.post(f"/groups/{gid}/archive", headers=owner.headers) for _ in range(3))
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409], [r.text for r in responses]
    assert types(await events_of(client, owner, gid))[-1:] == ["group.archived"]
    assert len(await events_of(client, owner, gid)) == 3
