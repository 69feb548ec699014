"""Offers and needs, matches and introductions (issue 15, points 4 and 5)."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.core.db import create_engine, create_session_factory
from app.demo import DEMO_PASSWORD, seed_founding
from app.matching.taxonomy import BY_ID
from tests.helpers import TestUser, add_member, events_of, make_group, make_user, unique
from tests.notifications_support import dispatch_group, inbox, make_dispatcher


async def _org(
    client: httpx.AsyncClient,
    user: TestUser,
    name: str,
    country: str = "AR",
    offers: tuple[str, ...] = (),
    needs: tuple[str, ...] = (),
) -> dict[str, Any]:
    body = {"name": unique(name), "kind": "cluster", "country": country}
    body |= {"offers": list(offers), "needs": list(needs)}
    r = await client.post("/organizations", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    org: dict[str, Any] = r.json()
    return org


async def _represent(
    client: httpx.AsyncClient, owner: TestUser, gid: str, org: dict[str, Any], role: str = "member"
) -> TestUser:
    """A new user who represents `org` in the group (their membership names it)."""
    user = await make_user(client, org["name"][:20])
    r = await client.post(
        f"/groups/{gid}/members",
        json={"user_id": user.id, "role": role, "organization_id": org["id"]},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    return user


def _error_locs(r: httpx.Response) -> list[list[Any]]:
    return [e["loc"] for e in r.json()["errors"]]


# --- the taxonomy and its validation ---------------------------------------------------------


async def test_taxonomy_is_two_levels_in_two_languages(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    r = await client.get("/taxonomy/technologies", headers=user.headers)
    assert r.status_code == 200, r.text
    terms = r.json()["items"]
    assert 25 <= len(terms) <= 40 and r.json()["next_cursor"] is None
    by_id = {t["id"]: t for t in terms}
    for term in terms:
        assert term["label_en"] and term["label_es"]
        if term["parent"] is not None:
            assert by_id[term["parent"]]["parent"] is None, term  # two levels
    assert {"cloud", "ai", "iot", "cybersecurity", "erp", "ecommerce"} <= set(by_id)
    assert (await client.get("/taxonomy/technologies")).status_code == 401


async def test_unknown_terms_are_refused_naming_the_field(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    body = {"name": unique("org"), "kind": "cluster", "country": "CO"}
    r = await client.post(
        "/organizations", json={**body, "offers": ["cloud", "telepathy"]}, headers=user.headers
    )
    assert r.status_code == 422, r.text
    assert _error_locs(r) == [["body", "offers", "1"]]
    assert "telepathy" in r.text

    org = await _org(client, user, "org", offers=("cloud", "cloud"), needs=("ai",))
    assert (org["offers"], org["needs"]) == (["cloud"], ["ai"])  # each term once
    path = f"/organizations/{org['id']}/offers-needs"
    r = await client.put(
        path, json={"offers": ["erp"], "needs": ["ai", "nope"]}, headers=user.headers
    )
    assert r.status_code == 422, r.text
    assert _error_locs(r) == [["body", "needs", "1"]]
    r = await client.get(f"/organizations/{org['id']}", headers=user.headers)
    assert (r.json()["offers"], r.json()["needs"]) == (["cloud"], ["ai"])  # unchanged

    r = await client.put(path, json={"offers": ["erp"], "needs": []}, headers=user.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["offers"], r.json()["needs"]) == (["erp"], [])
    assert r.headers["etag"] != org.get("etag")


async def test_members_of_an_organization_declare_its_offers_and_needs(
    client: httpx.AsyncClient,
) -> None:
    registrar, owner, outsider = [await make_user(client, n) for n in ("reg", "own", "out")]
    org = await _org(client, registrar, "org")
    group = await make_group(client, owner)
    delegate = await _represent(client, owner, group["id"], org)
    colleague = await make_user(client, "colleague")  # in the group, for another organization
    await add_member(client, owner, group["id"], colleague, "moderator")
    path = f"/organizations/{org['id']}/offers-needs"
    body = {"offers": ["iot"], "needs": ["cybersecurity"]}
    for user, expected in ((outsider, 403), (colleague, 403), (owner, 403), (delegate, 200)):
        r = await client.put(path, json=body, headers=user.headers)
        assert r.status_code == expected, (user.name, r.text)
    # PATCH stays with whoever registered it.
    r = await client.patch(
        f"/organizations/{org['id']}", json={"city": "X"}, headers=delegate.headers
    )
    assert r.status_code == 403, r.text


# --- ranking on a known set ------------------------------------------------------------------


async def _known_set(client: httpx.AsyncClient) -> tuple[TestUser, str, dict[str, dict[str, Any]]]:
    owner = await make_user(client, "owner")
    gid = (await make_group(client, owner))["id"]
    specs: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
        "N": ("AR", (), ("machine_learning",)),
        "E": ("AR", ("machine_learning",), ()),  # exact
        "X": ("CO", ("machine_learning",), ()),  # exact, across countries
        "B": ("AR", ("ai",), ()),  # the broader term of N's need
        "Z": ("AR", ("erp",), ()),  # nothing N needs
        "S": ("AR", ("erp",), ("erp",)),  # needs what it offers itself
    }
    orgs = {}
    for key, (country, offers, needs) in specs.items():
        orgs[key] = await _org(client, owner, key, country, offers, needs)
        await _represent(client, owner, gid, orgs[key])
    return owner, gid, orgs


def _pairs(items: list[dict[str, Any]], orgs: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    key = {o["id"]: k for k, o in orgs.items()}
    return [(key[m["need_organization"]["id"]], key[m["offer_organization"]["id"]]) for m in items]


async def test_matches_rank_a_known_set(client: httpx.AsyncClient) -> None:
    owner, gid, orgs = await _known_set(client)
    r = await client.get(f"/groups/{gid}/matches", headers=owner.headers)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    pairs = _pairs(items, orgs)
    # No (S, S), nothing for Z's offer to N, N-E and S-Z tie (their order is by ids).
    assert pairs[0] == ("N", "X") and pairs[-1] == ("N", "B")
    assert set(pairs) == {("N", "X"), ("N", "E"), ("S", "Z"), ("N", "B")}
    score = dict(zip(pairs, (m["score"] for m in items), strict=True))
    # 5 organizations offer something; machine learning and ERP by 2 each, AI by 1.
    common, rare = 1 + math.log(5 / 2), 1 + math.log(5)
    assert score[("N", "E")] == pytest.approx(common, abs=1e-3)
    assert score[("S", "Z")] == pytest.approx(common, abs=1e-3)
    assert score[("N", "X")] == pytest.approx(common * 1.1, abs=1e-3)  # cross-country bonus
    # The broader term counts half, even though AI is the rarer offer.
    assert score[("N", "B")] == pytest.approx(rare / 2, abs=1e-3)
    assert score[("N", "B")] < score[("N", "E")]
    broader = items[-1]
    assert broader["shared_terms"] == ["machine_learning"]
    assert broader["overlaps"] == [
        {
            "need_term": "machine_learning",
            "offer_term": "ai",
            "exact": False,
            "weight": broader["score"],
        }
    ]
    assert any("broader" in reason for reason in broader["reasons"])
    assert any("across countries" in reason for reason in items[0]["reasons"])

    # Pages follow the same order.
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"/groups/{gid}/matches", params=params, headers=owner.headers)
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == items

    # Filters: a country (either side), a focus area (organizations named by its proposals).
    r = await client.get(f"/groups/{gid}/matches", params={"country": "co"}, headers=owner.headers)
    assert _pairs(r.json()["items"], orgs) == [("N", "X")]
    r = await client.post(
        f"/groups/{gid}/focus-areas", json={"title": "Supply"}, headers=owner.headers
    )
    area = r.json()["id"]
    r = await client.post(
        f"/groups/{gid}/proposals",
        json={
            "title": "Catalogue",
            "body": "Of ML",
            "focus_area_id": area,
            "organization_id": orgs["E"]["id"],
        },
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    r = await client.get(
        f"/groups/{gid}/matches", params={"focus_area_id": area}, headers=owner.headers
    )
    assert _pairs(r.json()["items"], orgs) == [("N", "E")]


async def test_registry_scope_adds_offers_from_outside_the_group(
    client: httpx.AsyncClient,
) -> None:
    owner, gid, orgs = await _known_set(client)
    outside = await _org(client, owner, "R", "MX", offers=("machine_learning",), needs=("ai",))
    path = f"/groups/{gid}/matches"
    r = await client.get(path, params={"scope": "group", "limit": 200}, headers=owner.headers)
    assert outside["id"] not in r.text
    r = await client.get(path, params={"scope": "registry", "limit": 200}, headers=owner.headers)
    found = [
        (m["need_organization"]["id"], m["offer_organization"]["id"]) for m in r.json()["items"]
    ]
    assert (orgs["N"]["id"], outside["id"]) in found
    # Needs are the group's members' only: R's need for AI is not listed.
    assert all(need != outside["id"] for need, _ in found)


# --- introductions ---------------------------------------------------------------------------


async def test_an_introduction_makes_an_item_notifies_both_and_records_the_event(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner = await make_user(client, "owner")
    gid = (await make_group(client, owner))["id"]
    need = await _org(client, owner, "Needs", "AR", needs=("machine_learning", "erp"))
    offer = await _org(client, owner, "Offers", "CO", offers=("ai", "erp"))
    other = await _org(client, owner, "Other", "CR", offers=("erp",))
    moderator = await _represent(client, owner, gid, other, "moderator")
    needing, offering = [await _represent(client, owner, gid, o) for o in (need, offer)]
    bystander = await _represent(client, owner, gid, other)
    path = f"/groups/{gid}/introductions"
    body = {
        "need_organization_id": need["id"],
        "offer_organization_id": offer["id"],
        "terms": ["machine_learning", "erp"],
        "note": "Both are in the Pacific corridor",
    }

    bad = [
        ({"terms": ["cloud"]}, ["body", "terms", "0"]),  # not shared
        ({"terms": ["erp", "telepathy"]}, ["body", "terms", "1"]),  # not a term
        ({"offer_organization_id": need["id"]}, ["body", "offer_organization_id"]),  # itself
        ({"need_organization_id": (await _org(client, owner, "Away"))["id"]},
         ["body", "need_organization_id"]),  # not one of the group's organizations
    ]  # fmt: skip
    for change, loc in bad:
        r = await client.post(path, json={**body, **change}, headers=moderator.headers)
        assert r.status_code == 422, r.text
        assert loc in _error_locs(r), r.text
    r = await client.post(path, json=body, headers=needing.headers)
    assert r.status_code == 403, r.text

    r = await client.post(path, json=body, headers=moderator.headers)
    assert r.status_code == 201, r.text
    intro = r.json()
    assert intro["action_item_status"] == "todo" and intro["terms"] == ["machine_learning", "erp"]
    r = await client.get(f"/action-items/{intro['action_item_id']}", headers=owner.headers)
    item = r.json()
    assert item["owner_id"] == moderator.id
    assert item["title"] == f"Introduce {need['name']} and {offer['name']}"
    assert "Pacific corridor" in item["description"]

    events = await events_of(client, owner, gid)
    types = [e["type"] for e in events[-3:]]
    assert types == ["action_item.created", "action_item.assigned", "match.introduced"]
    data = events[-1]["data"]["introduction"]
    assert events[-1]["subject"] == {"type": "introduction", "id": intro["id"]}
    assert data["need_organization"]["id"] == need["id"]
    assert data["offer_organization"]["id"] == offer["id"]
    assert data["terms"] == ["machine_learning", "erp"]
    assert data["action_item_id"] == intro["action_item_id"]

    await dispatch_group(make_dispatcher(app), gid)
    for user in (needing, offering):
        notes = [n for n in await inbox(client, user) if n["type"] == "match.introduced"]
        assert len(notes) == 1, user.name
        assert notes[0]["data"]["title"] == item["title"]
        assert notes[0]["reason"] == "organization"
    for user in (bystander, moderator):  # another organization's; the one who acted
        assert all(n["type"] != "match.introduced" for n in await inbox(client, user))

    r = await client.get(f"/groups/{gid}/introductions/stats", headers=needing.headers)
    assert r.json() == {"made": 1, "completed": 0, "open": 1, "dropped": 0}
    r = await client.patch(
        f"/action-items/{intro['action_item_id']}",
        json={"status": "done"},
        headers=moderator.headers,
    )
    assert r.status_code == 200, r.text
    r = await client.get(path, headers=needing.headers)
    (listed,) = r.json()["items"]
    assert listed == {**intro, "action_item_status": "done"}
    r = await client.get(f"/groups/{gid}/introductions/stats", headers=needing.headers)
    assert r.json() == {"made": 1, "completed": 1, "open": 0, "dropped": 0}


def test_every_term_is_reachable() -> None:
    """The taxonomy's parents exist (a typo would make a child unmatched with its parent)."""
    assert all(t.parent is None or t.parent in BY_ID for t in BY_ID.values())


async def test_the_demo_clusters_have_matches(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            group_id = (await seed_founding(session, settings)).id
    finally:
        await engine.dispose()
    r = await client.post(
        "/auth/token", data={"username": "promoter.cr@demo.wghub.dev", "password": DEMO_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = await client.get(f"/groups/{group_id}/matches", headers=headers)
    assert r.status_code == 200, r.text
    matches = r.json()["items"]
    countries = {m["need_organization"]["country"] for m in matches}
    assert {"AR", "CO", "CR", "CU", "MX", "EC"} <= countries | {
        m["offer_organization"]["country"] for m in matches
    }
    assert any(not o["exact"] for m in matches for o in m["overlaps"])  # a broader term meets
    r = await client.get(
        f"/groups/{group_id}/matches", params={"scope": "registry"}, headers=headers
    )
    offered_by = {m["offer_organization"]["name"] for m in r.json()["items"]}
    assert "Monterrey Software Cluster" in offered_by  # in the registry, not in the group
