"""Keys apart: webhook secrets are encrypted with WG_ENCRYPTION_KEYS, not with the JWT key,
so either can be rotated on its own; `wg rotate-encryption-key` moves stored secrets to the
first key so the old ones can go."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr, ValidationError
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook

from app.core.config import Settings
from app.core.crypto import keyring
from app.core.db import create_engine
from app.core.migrations import upgrade
from app.models import WebhookEndpoint
from app.models.base import table_of
from app.webhooks.signing import SignerCache
from tests.conftest import (
    TEST_SECRET,
    api_client,
    fresh_database,
    make_settings,
    running_app,
    running_worker,
)
from tests.helpers import PASSWORD, TestUser, make_group, make_user
from tests.procs import WG, clean_env, run
from tests.receiver import Receiver

OTHER_SECRET = "a-new-token-signing-secret-" + "z" * 32
endpoints = table_of(WebhookEndpoint)


def _legacy_encrypt(secret_key: str, plaintext: str) -> str:
    """What releases before WG_ENCRYPTION_KEYS stored: Fernet under sha256(label + secret)."""
    digest = hashlib.sha256(b"wghub:secrets-at-rest:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest)).encrypt(plaintext.encode()).decode()


def _with_keys(settings: Settings, *keys: bytes, **more: Any) -> Settings:
    return settings.model_copy(
        update={"encryption_keys": [SecretStr(k.decode()) for k in keys], **more}
    )


# --- configuration -----------------------------------------------------------------------


def test_keys_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("WG_ENV", "dev")
    monkeypatch.setenv("WG_ENCRYPTION_KEYS", f" {first}, {second} ")
    keys = Settings().encryption_keys
    assert [k.get_secret_value() for k in keys] == [first, second]
    assert first not in repr(Settings())  # kept out of logs that show the settings


def test_a_bad_key_is_refused_by_number_without_showing_any_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = Fernet.generate_key().decode()
    monkeypatch.setenv("WG_ENV", "dev")
    monkeypatch.setenv("WG_ENCRYPTION_KEYS", f"{good},not-a-fernet-key")
    with pytest.raises(ValidationError, match="WG_ENCRYPTION_KEYS: key 2 of 2") as caught:
        Settings()
    assert good not in str(caught.value) and "not-a-fernet-key" not in str(caught.value)


def test_a_refused_secret_key_is_not_shown_either() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(env="prod", secret_key="short-but-secret")
    assert "short-but-secret" not in str(caught.value)


async def test_a_process_with_a_bad_key_stops_at_start(tmp_path: Path) -> None:
    env = clean_env(
        WG_DATA_DIR=str(tmp_path),
        WG_SECRET_KEY=TEST_SECRET,
        WG_REDIS_URL="redis://127.0.0.1:1/0",
        WG_ENCRYPTION_KEYS="not-a-fernet-key",
    )
    code, out = await run(WG, "api", env=env)
    assert code == 2
    assert "WG_ENCRYPTION_KEYS: key 1 of 1 is not a Fernet key" in out
    assert "not-a-fernet-key" not in out


# --- reading what earlier releases stored ---------------------------------------------------


def test_secrets_stored_by_earlier_releases_stay_readable(settings: Settings) -> None:
    old = _legacy_encrypt(settings.secret_key, "whsec_before")
    # Keys derived from the secret (nothing configured), and keys configured for the first time.
    assert keyring(settings).decrypt(old) == "whsec_before"
    configured = _with_keys(settings, Fernet.generate_key())
    assert keyring(configured).decrypt(old) == "whsec_before"
    # New secrets: under the configured key alone, whatever WG_SECRET_KEY becomes.
    new = keyring(configured).encrypt("whsec_after")
    moved = configured.model_copy(update={"secret_key": OTHER_SECRET})
    assert keyring(moved).decrypt(new) == "whsec_after"
    with pytest.raises(InvalidToken):
        keyring(settings).decrypt(new)
    # Derived keys are HKDF's now, still tied to the secret: another secret cannot read them.
    derived = keyring(settings).encrypt("whsec_derived")
    with pytest.raises(InvalidToken):
        keyring(settings.model_copy(update={"secret_key": OTHER_SECRET})).decrypt(derived)


# --- rotating the JWT key ------------------------------------------------------------------


async def _hook(client: httpx.AsyncClient, owner: TestUser, group_id: str, url: str) -> Any:
    r = await client.post(
        f"/groups/{group_id}/webhooks",
        json={"url": url, "event_types": ["focus_area.*"]},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_rotating_the_jwt_key_leaves_webhook_secrets_readable(
    wh_settings: Settings, receiver: Receiver
) -> None:
    before = _with_keys(wh_settings, Fernet.generate_key())
    async with running_app(before) as app, api_client(app) as client:
        owner = await make_user(client, "keys-owner")
        gid = (await make_group(client, owner))["id"]
        hook = await _hook(client, owner, gid, receiver.url("/keys-apart"))

    after = before.model_copy(update={"secret_key": OTHER_SECRET})
    async with (
        running_app(after) as app,
        api_client(app) as client,
        running_worker(after),
    ):
        # Every token signed with the old key is void...
        r = await client.get("/users/me", headers=owner.headers)
        assert r.status_code == 401, r.text
        r = await client.post("/auth/token", data={"username": owner.email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        # ...while the webhook secret still signs: the test call in the API process...
        r = await client.post(f"/webhooks/{hook['id']}/test", headers=headers)
        assert r.status_code == 200 and r.json()["success"] is True, r.text
        # ...and a delivery by the worker.
        r = await client.post(f"/groups/{gid}/focus-areas", json={"title": "t"}, headers=headers)
        assert r.status_code == 201, r.text
        got = await receiver.wait_for("/keys-apart", 2)
    kinds = [Webhook(hook["secret"]).verify(g.body, g.headers)["type"] for g in got]
    assert sorted(kinds) == ["focus_area.created", "webhook.test"]


# --- wg rotate-encryption-key --------------------------------------------------------------


@pytest.fixture
def own_database(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Settings]:
    """A database of this test's own: the command re-encrypts every secret in it."""
    with fresh_database(tmp_path_factory) as url:
        s = make_settings(url, redis_url, tmp_path_factory.mktemp("keys"))
        upgrade(s)
        yield s


async def _stored(settings: Settings) -> dict[Any, tuple[Any, ...]]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(
                    endpoints.c.id,
                    endpoints.c.secret_encrypted,
                    endpoints.c.previous_secret_encrypted,
                    endpoints.c.version,
                    endpoints.c.updated_at,
                )
            )
            return {row.id: tuple(row[1:]) for row in rows}
    finally:
        await engine.dispose()


async def _set_previous(settings: Settings, hook_id: str, ciphertext: str) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(endpoints)
                .where(endpoints.c.id == uuid.UUID(hook_id))
                .values(previous_secret_encrypted=ciphertext)
            )
    finally:
        await engine.dispose()


async def test_rotate_encryption_key_moves_every_secret_to_the_first_key(
    own_database: Settings,
) -> None:
    old_key = Fernet.generate_key()
    code, out = await run(WG, "generate-encryption-key", env=clean_env())
    assert code == 0, out
    new_key = out.strip().encode()
    Fernet(new_key)  # a valid key, and nothing else printed
    before = _with_keys(own_database, old_key)
    plain: dict[str, list[str]] = {}  # endpoint id → its secrets, current first
    async with running_app(before) as app, api_client(app) as client:
        owner = await make_user(client, "rekey")
        gid = (await make_group(client, owner))["id"]
        for i in range(5):  # more rows than one batch (2)
            hook = await _hook(client, owner, gid, f"http://127.0.0.1:9/{i}")
            plain[hook["id"]] = [hook["secret"]]
        # A rotation overlap: the previous secret is stored (encrypted) too.
        rotated = next(iter(plain))
        r = await client.post(f"/webhooks/{rotated}/rotate-secret", headers=owner.headers)
        assert r.status_code == 200, r.text
        plain[rotated].insert(0, r.json()["secret"])
    # One secret as a release before WG_ENCRYPTION_KEYS stored it (key derived from the secret).
    legacy = list(plain)[1]
    plain[legacy].append("whsec_from_an_earlier_release")
    await _set_previous(own_database, legacy, _legacy_encrypt(TEST_SECRET, plain[legacy][1]))
    stored = await _stored(own_database)

    env = clean_env(
        WG_ENV="test",
        WG_DATABASE_URL=own_database.effective_database_url,
        WG_SECRET_KEY=TEST_SECRET,
        WG_ENCRYPTION_KEYS=f"{new_key.decode()},{old_key.decode()}",
    )
    command = (WG, "rotate-encryption-key", "--batch-size", "2")
    code, out = await run(*command, env=env)
    assert code == 0, out
    assert "re-encrypted 7 secrets" in out  # 5 current, 1 previous, 1 legacy
    code, out = await run(*command, env=env)
    assert code == 0 and "re-encrypted 0 secrets" in out, out  # nothing left: a no-op

    # The old key and the old JWT secret can go: only the new key is needed now.
    after = _with_keys(own_database, new_key, secret_key=OTHER_SECRET)
    old_only = _with_keys(own_database, old_key, secret_key=OTHER_SECRET)
    now = await _stored(own_database)
    for hook_id, secrets in plain.items():
        current, previous, version, updated_at = now[uuid.UUID(hook_id)]
        opened = [keyring(after).decrypt(current)] + (
            [keyring(after).decrypt(previous)] if previous else []
        )
        assert opened == secrets
        with pytest.raises(InvalidToken):
            keyring(old_only).decrypt(current)
        # Nothing anyone sees changed: no new ETag, no new updated_at.
        assert (version, updated_at) == stored[uuid.UUID(hook_id)][2:]

    # The worker's cache of decrypted secrets is keyed by ciphertext: re-encrypted rows miss
    # it and are decrypted afresh, to the same secrets.
    cache = SignerCache(keyring(_with_keys(own_database, new_key, old_key)))
    hook_id = uuid.UUID(legacy)
    old_pair = cache.signers(hook_id, *stored[hook_id][:2], None, datetime.now(UTC))
    new_pair = cache.signers(hook_id, *now[hook_id][:2], None, datetime.now(UTC))
    assert new_pair is not old_pair
    at = datetime.now(UTC)
    assert [s.sign("msg", at, "{}") for s in new_pair] == [
        s.sign("msg", at, "{}") for s in old_pair
    ]

    # A secret that no key opens is named, and the others are still done.
    await _set_previous(own_database, legacy, Fernet(Fernet.generate_key()).encrypt(b"x").decode())
    code, out = await run(*command, env=env)
    assert code == 1, out
    assert f"webhook_endpoints.previous_secret_encrypted {legacy}" in out


async def test_rotate_finds_the_secret_of_an_embedded_deployment(tmp_path: Path) -> None:
    # `wg serve` keeps its generated secret in the data directory, not in the environment.
    (tmp_path / "secret_key").write_text(TEST_SECRET)
    code, out = await run(WG, "migrate", env=clean_env(WG_DATA_DIR=str(tmp_path), WG_ENV="dev"))
    assert code == 0, out
    code, out = await run(WG, "rotate-encryption-key", env=clean_env(WG_DATA_DIR=str(tmp_path)))
    assert code == 0 and "re-encrypted 0 secrets" in out, out
