"""Registration, login, JWTs, API keys and the caller's own profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt

from app.core.config import Settings
from app.core.security import JWT_ALGORITHM, JWT_AUDIENCE
from tests.helpers import PASSWORD, make_user, unique
from tests.helpers import TestUser as ApiUser  # aliased: pytest would try to collect TestUser

PROBLEM_JSON = "application/problem+json"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _jwt(secret: str, user: ApiUser, exp: datetime) -> str:
    """The claims of the user's own token (its session, `jti`), with another expiry."""
    jti = jwt.decode(user.token, options={"verify_signature": False})["jti"]
    payload = {
        "sub": user.id,
        "aud": JWT_AUDIENCE,
        "iat": exp - timedelta(hours=1),
        "exp": exp,
        "jti": jti,
    }
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM)


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/auth/token", data={"username": email, "password": password})


# --- registration ---------------------------------------------------------------------------


async def test_register_normalises_email_to_lower_case(client: httpx.AsyncClient) -> None:
    local = unique("Mixed.Case")
    r = await client.post(
        "/auth/register",
        json={"email": f"{local}@Example.ORG", "password": PASSWORD, "name": "Ana"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["email"] == f"{local.lower()}@example.org"
    assert body["name"] == "Ana"
    assert body["is_admin"] is False
    assert "password" not in r.text and "password_hash" not in body
    # Login works with any casing of the address.
    r = await _login(client, f"{local.upper()}@EXAMPLE.org", PASSWORD)
    assert r.status_code == 200, r.text


async def test_register_duplicate_email_in_other_case_is_409(client: httpx.AsyncClient) -> None:
    email = f"{unique('dup')}@example.org"
    r = await client.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "name": "First"}
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/auth/register", json={"email": email.upper(), "password": PASSWORD, "name": "Second"}
    )
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
    assert r.json()["status"] == 409


async def test_register_refuses_unknown_fields(client: httpx.AsyncClient) -> None:
    email = f"{unique('sneaky')}@example.org"
    r = await client.post(
        "/auth/register",
        json={"email": email, "password": PASSWORD, "name": "Sneaky", "is_admin": True},
    )
    assert r.status_code == 422, r.text
    assert any(e["loc"][-1] == "is_admin" for e in r.json()["errors"])
    # Nothing was created: the account does not exist.
    r = await _login(client, email, PASSWORD)
    assert r.status_code == 401, r.text


async def test_malformed_json_is_400_problem(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/auth/register",
        content=b'{"email": "a@example.org", "password": ',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
    body = r.json()
    assert body["status"] == 400
    assert {"type", "title", "detail"} <= body.keys()


async def test_validation_error_names_the_field(client: httpx.AsyncClient) -> None:
    email = f"{unique('short')}@example.org"
    r = await client.post(
        "/auth/register", json={"email": email, "password": "short", "name": "Shorty"}
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
    body = r.json()
    assert body["status"] == 422
    assert [e["loc"] for e in body["errors"]] == [["body", "password"]]
    assert "password" in body["detail"]
    r = await _login(client, email, "short")
    assert r.status_code == 401


# --- tokens ---------------------------------------------------------------------------------


async def test_token_authenticates(client: httpx.AsyncClient) -> None:
    email = f"{unique('tok')}@example.org"
    r = await client.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "name": "T"}
    )
    assert r.status_code == 201
    user_id = r.json()["id"]
    r = await _login(client, email, PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    r = await client.get("/users/me", headers=_bearer(body["access_token"]))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == user_id


async def test_wrong_password_and_unknown_email_look_the_same(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "login")
    wrong = await _login(client, user.email, PASSWORD + "!")
    unknown = await _login(client, f"{unique('nobody')}@example.org", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.headers["content-type"].startswith(PROBLEM_JSON)
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.json() == unknown.json()


async def test_no_or_garbage_credentials_are_401(client: httpx.AsyncClient) -> None:
    r = await client.get("/users/me")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
    assert r.headers["www-authenticate"].lower().startswith("bearer")
    for token in ("not-a-jwt", "wgk_not-a-real-key"):
        r = await client.get("/users/me", headers=_bearer(token))
        assert r.status_code == 401, token


async def test_expired_jwt_is_401(client: httpx.AsyncClient, settings: Settings) -> None:
    user = await make_user(client, "expired")
    now = datetime.now(UTC)
    # The same claims with a future expiry are accepted, so only `exp` makes the difference.
    fresh = _jwt(settings.secret_key, user, now + timedelta(minutes=5))
    assert (await client.get("/users/me", headers=_bearer(fresh))).status_code == 200
    expired = _jwt(settings.secret_key, user, now - timedelta(minutes=5))
    r = await client.get("/users/me", headers=_bearer(expired))
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith(PROBLEM_JSON)


async def test_jwt_signed_with_another_key_is_401(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await make_user(client, "forged")
    other_key = "another-secret-key-" + "y" * 32
    assert other_key != settings.secret_key
    forged = _jwt(other_key, user, datetime.now(UTC) + timedelta(minutes=5))
    r = await client.get("/users/me", headers=_bearer(forged))
    assert r.status_code == 401, r.text


# --- API keys -------------------------------------------------------------------------------


async def _create_key(client: httpx.AsyncClient, user: ApiUser, name: str) -> dict[str, str]:
    r = await client.post("/auth/api-keys", json={"name": name}, headers=user.headers)
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


async def test_api_key_lifecycle(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "keys")
    created = await _create_key(client, user, "dashboard")
    key = created["key"]
    assert key.startswith("wgk_")
    assert created["name"] == "dashboard"

    r = await client.get("/auth/api-keys", headers=user.headers)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["id"] for i in items] == [created["id"]]
    assert "key" not in items[0]
    assert key not in r.text
    assert items[0]["last_used_at"] is None

    # The key authenticates like a JWT and records its use.
    r = await client.get("/users/me", headers=_bearer(key))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == user.id
    r = await client.get("/auth/api-keys", headers=user.headers)
    assert r.json()["items"][0]["last_used_at"] is not None

    r = await client.delete(f"/auth/api-keys/{created['id']}", headers=user.headers)
    assert r.status_code == 204, r.text
    r = await client.get("/users/me", headers=_bearer(key))
    assert r.status_code == 401, r.text
    r = await client.get("/auth/api-keys", headers=user.headers)
    assert r.json()["items"][0]["revoked_at"] is not None
    # Revoking twice: the key is gone as far as the API is concerned.
    r = await client.delete(f"/auth/api-keys/{created['id']}", headers=user.headers)
    assert r.status_code == 404


async def test_api_key_of_another_user_cannot_be_deleted(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "keyowner")
    intruder = await make_user(client, "intruder")
    created = await _create_key(client, owner, "ci")
    r = await client.delete(f"/auth/api-keys/{created['id']}", headers=intruder.headers)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
    # The intruder's listing does not show it and the key still works.
    r = await client.get("/auth/api-keys", headers=intruder.headers)
    assert r.json()["items"] == []
    r = await client.get("/users/me", headers=_bearer(created["key"]))
    assert r.status_code == 200
    assert r.json()["id"] == owner.id


# --- the profile ----------------------------------------------------------------------------


async def test_me_sends_etag(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "etag")
    r = await client.get("/users/me", headers=user.headers)
    assert r.status_code == 200
    etag = r.headers.get("etag")
    assert etag is not None and etag.startswith('"') and etag.endswith('"')
    # A change produces a new ETag.
    r = await client.patch("/users/me", json={"name": "Renamed"}, headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed"
    assert r.headers["etag"] != etag
    r2 = await client.get("/users/me", headers=user.headers)
    assert r2.headers["etag"] == r.headers["etag"]


async def test_patch_me_cannot_make_admin(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "wannabe")
    r = await client.patch("/users/me", json={"is_admin": True}, headers=user.headers)
    assert r.status_code == 422, r.text
    assert any(e["loc"][-1] == "is_admin" for e in r.json()["errors"])
    r = await client.patch(
        "/users/me", json={"name": "Still me", "is_admin": True}, headers=user.headers
    )
    assert r.status_code == 422, r.text
    r = await client.get("/users/me", headers=user.headers)
    assert r.json()["is_admin"] is False
    assert r.json()["name"] == "wannabe"


async def test_patch_me_with_stale_if_match_is_412(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "stale")
    old_etag = (await client.get("/users/me", headers=user.headers)).headers["etag"]
    r = await client.patch(
        "/users/me", json={"name": "First edit"}, headers={**user.headers, "If-Match": old_etag}
    )
    assert r.status_code == 200, r.text
    new_etag = r.headers["etag"]
    assert new_etag != old_etag

    r = await client.patch(
        "/users/me",
        json={"name": "Lost update", "locale": "es"},
        headers={**user.headers, "If-Match": old_etag},
    )
    assert r.status_code == 412, r.text
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
    r = await client.get("/users/me", headers=user.headers)
    assert r.json()["name"] == "First edit"
    assert r.json()["locale"] == "en"
    assert r.headers["etag"] == new_etag


async def test_a_password_is_taken_exactly_as_typed(client: httpx.AsyncClient) -> None:
    # Spaces around a password are part of it, at registration as at sign-in.
    email = f"{unique('spaces')}@example.org"
    password = "  spaced out secret  "
    r = await client.post(
        "/auth/register", json={"email": email, "password": password, "name": "Spaces"}
    )
    assert r.status_code == 201, r.text
    assert (await _login(client, email, password)).status_code == 200
    assert (await _login(client, email, password.strip())).status_code == 401
