"""The organization registry: validation, filters, pagination, GeoJSON and guarded edits."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import TestUser as ApiUser  # aliased: pytest would try to collect TestUser
from tests.helpers import make_user, unique

PROBLEM_JSON = "application/problem+json"


async def _create(
    client: httpx.AsyncClient, user: ApiUser, name: str, **fields: Any
) -> httpx.Response:
    body = {"name": name, "kind": "cluster", "country": "AR", **fields}
    return await client.post("/organizations", json=body, headers=user.headers)


async def _org(
    client: httpx.AsyncClient, user: ApiUser, name: str, **fields: Any
) -> dict[str, Any]:
    r = await _create(client, user, name, **fields)
    assert r.status_code == 201, r.text
    org: dict[str, Any] = r.json()
    return org


async def _names(client: httpx.AsyncClient, user: ApiUser, **params: str) -> list[str]:
    r = await client.get("/organizations", params={"limit": 200, **params}, headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    return sorted(o["name"] for o in r.json()["items"])


def _error_fields(response: httpx.Response) -> list[str]:
    return [".".join(e["loc"][1:]) for e in response.json()["errors"]]


async def test_create_normalises_country(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "orgmaker")
    name = unique("Cluster TIC")
    r = await _create(
        client,
        user,
        name,
        kind="cluster",
        country="mx",
        city="Guadalajara",
        latitude=20.67,
        longitude=-103.35,
        sectors=["software", "semiconductors", "software"],
        website="https://example.org/cluster",
    )
    assert r.status_code == 201, r.text
    org = r.json()
    assert org["country"] == "MX"
    assert org["kind"] == "cluster"
    assert org["latitude"] == 20.67 and org["longitude"] == -103.35
    assert org["sectors"] == ["software", "semiconductors"]
    assert org["created_by"] == user.id
    assert r.headers.get("etag")

    r = await client.get(f"/organizations/{org['id']}", headers=user.headers)
    assert r.status_code == 200
    assert r.json()["country"] == "MX"
    assert r.json()["name"] == name


async def test_invalid_input_is_422_and_creates_nothing(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "orgbad")
    token = unique("badorg")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"country": "XX"}, "country"),
        ({"country": "ARG"}, "country"),
        ({"kind": "ngo"}, "kind"),
        ({"latitude": 91, "longitude": 0}, "latitude"),
        ({"latitude": 0, "longitude": -181}, "longitude"),
    ]
    for fields, field in cases:
        r = await _create(client, user, f"{token} {field}", **fields)
        assert r.status_code == 422, (fields, r.text)
        assert r.headers["content-type"].startswith(PROBLEM_JSON)
        assert field in _error_fields(r), (fields, r.json())

    # One coordinate without the other is refused too (a model-level rule).
    for fields in ({"latitude": 10.0}, {"longitude": 10.0}, {"latitude": 1.0, "longitude": None}):
        r = await _create(client, user, f"{token} half", **fields)
        assert r.status_code == 422, (fields, r.text)
        assert "latitude" in r.json()["errors"][0]["msg"]

    assert await _names(client, user, q=token) == []


async def test_list_filters(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "orgfilter")
    token = unique("flt")
    await _org(client, user, f"{token} Alpha", kind="cluster", country="MX")
    await _org(client, user, f"{token} Beta", kind="agency", country="MX")
    await _org(client, user, f"{token} Gamma", kind="cluster", country="CO")
    await _org(client, user, f"{token} Delta", kind="university", country="CR")
    await _org(client, user, unique("unrelated"), kind="cluster", country="MX")

    everything = [f"{token} {n}" for n in ("Alpha", "Beta", "Delta", "Gamma")]
    assert await _names(client, user, q=token) == everything
    # q is case-insensitive and matches inside the name.
    assert await _names(client, user, q=token.upper()) == everything
    assert await _names(client, user, q=f"{token} al") == [f"{token} Alpha"]
    assert await _names(client, user, q=token, country="MX") == [
        f"{token} Alpha",
        f"{token} Beta",
    ]
    assert await _names(client, user, q=token, country="co") == [f"{token} Gamma"]
    assert await _names(client, user, q=token, kind="cluster") == [
        f"{token} Alpha",
        f"{token} Gamma",
    ]
    assert await _names(client, user, q=token, kind="cluster", country="MX") == [f"{token} Alpha"]
    assert await _names(client, user, q=token, country="AR") == []
    # LIKE wildcards in q are literal characters, not patterns.
    assert await _names(client, user, q=token.replace("-", "_")) == []
    assert await _names(client, user, q=f"{token}%") == []

    r = await client.get("/organizations", params={"kind": "ngo"}, headers=user.headers)
    assert r.status_code == 422


async def test_pagination_walks_every_page_once(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "orgpages")
    token = unique("page")
    created = [(await _org(client, user, f"{token} {i}"))["id"] for i in range(5)]

    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        params = {"q": token, "limit": "2", **({"cursor": cursor} if cursor else {})}
        r = await client.get("/organizations", params=params, headers=user.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen.extend(o["id"] for o in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "pagination does not end"
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    # Ordered by creation.
    assert seen == created


async def test_geojson_feature_collection(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "orggeo")
    token = unique("geo")
    ba = await _org(
        client, user, f"{token} Buenos Aires", country="AR", latitude=-34.6, longitude=-58.4
    )
    havana = await _org(
        client, user, f"{token} Havana", kind="agency", country="CU", latitude=23.1, longitude=-82.4
    )
    nowhere = await _org(client, user, f"{token} Nowhere", country="CO")

    r = await client.get("/organizations.geojson", params={"q": token}, headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    collection = r.json()
    assert collection["type"] == "FeatureCollection"
    features = {f["id"]: f for f in collection["features"]}
    assert set(features) == {ba["id"], havana["id"]}
    assert nowhere["id"] not in features
    for f in features.values():
        assert f["type"] == "Feature"
        assert f["geometry"]["type"] == "Point"
    # RFC 7946: [longitude, latitude].
    assert features[ba["id"]]["geometry"]["coordinates"] == [-58.4, -34.6]
    assert features[havana["id"]]["geometry"]["coordinates"] == [-82.4, 23.1]
    assert features[havana["id"]]["properties"]["name"] == f"{token} Havana"
    assert features[havana["id"]]["properties"]["country"] == "CU"

    # The list filters apply to the map as well.
    r = await client.get(
        "/organizations.geojson", params={"q": token, "kind": "agency"}, headers=user.headers
    )
    assert [f["id"] for f in r.json()["features"]] == [havana["id"]]

    assert (await client.get("/organizations.geojson")).status_code == 401


async def test_patch_permissions_and_if_match(client: httpx.AsyncClient) -> None:
    creator = await make_user(client, "orgcreator")
    other = await make_user(client, "orgother")
    org = await _org(client, creator, unique("Editable"), city="Bogotá", country="CO")
    r = await client.get(f"/organizations/{org['id']}", headers=creator.headers)
    etag = r.headers["etag"]

    r = await client.patch(
        f"/organizations/{org['id']}",
        json={"city": "Medellín"},
        headers={**other.headers, "If-Match": etag},
    )
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith(PROBLEM_JSON)

    r = await client.patch(
        f"/organizations/{org['id']}",
        json={"city": "Medellín", "latitude": 6.25, "longitude": -75.56},
        headers={**creator.headers, "If-Match": etag},
    )
    assert r.status_code == 200, r.text
    assert r.json()["city"] == "Medellín"
    assert r.json()["latitude"] == 6.25
    new_etag = r.headers["etag"]
    assert new_etag != etag

    r = await client.patch(
        f"/organizations/{org['id']}",
        json={"city": "Cali"},
        headers={**creator.headers, "If-Match": etag},
    )
    assert r.status_code == 412, r.text
    assert r.headers["content-type"].startswith(PROBLEM_JSON)

    r = await client.get(f"/organizations/{org['id']}", headers=creator.headers)
    assert r.json()["city"] == "Medellín"
    assert r.headers["etag"] == new_etag


async def test_unknown_organization_is_404(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "org404")
    r = await client.get(
        "/organizations/00000000-0000-4000-8000-000000000000", headers=user.headers
    )
    assert r.status_code == 404
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
