"""What every HTTP answer tells the browser, and what operators can close in production:
security headers, the interactive docs, and /metrics behind a token."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.core.config import Settings
from app.main import create_app
from tests.helpers import make_group, make_user, settings_changed

EVERYWHERE = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
}


async def test_security_headers_and_no_store_for_private_answers(
    client: httpx.AsyncClient,
) -> None:
    anonymous = await client.get("http://test/healthz")
    assert {k: anonymous.headers.get(k) for k in EVERYWHERE} == EVERYWHERE
    assert "cache-control" not in anonymous.headers

    user = await make_user(client, "headers")
    group = await make_group(client, user)
    private = await client.get(f"/groups/{group['id']}", headers=user.headers)
    assert private.status_code == 200
    assert {k: private.headers.get(k) for k in EVERYWHERE} == EVERYWHERE
    assert private.headers["cache-control"] == "no-store"
    # Errors too: a problem answer to a signed-in caller is just as private.
    missing = await client.get("/groups/00000000-0000-0000-0000-000000000000", headers=user.headers)
    assert missing.status_code == 404 and missing.headers["cache-control"] == "no-store"
    assert missing.headers["x-content-type-options"] == "nosniff"


async def test_metrics_behind_a_token_when_one_is_set(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    assert (await client.get("http://test/metrics")).status_code == 200
    with settings_changed(app, metrics_token="scrape-secret"):
        assert (await client.get("http://test/metrics")).status_code == 404
        wrong = {"Authorization": "Bearer nope"}
        assert (await client.get("http://test/metrics", headers=wrong)).status_code == 404
        right = {"Authorization": "Bearer scrape-secret"}
        r = await client.get("http://test/metrics", headers=right)
        assert r.status_code == 200 and "wg_http_requests_total" in r.text


async def test_the_interactive_docs_can_be_turned_off(settings: Settings) -> None:
    for enabled, status in ((True, 200), (False, 404)):
        app = create_app(settings.model_copy(update={"docs_enabled": enabled}))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            assert (await http.get("/docs")).status_code == status
            assert (await http.get("/redoc")).status_code == status
            assert (await http.get("/openapi.json")).status_code == 200  # the contract stays
