"""The SSRF guard's address and port rules, on literal addresses (no DNS needed)."""

from __future__ import annotations

import pytest

from app.webhooks import ssrf


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254 (cloud metadata)
        "http://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
        "http://[64:ff9b:1:a9fe:a9:fe00::]/hook",  # local-use NAT64 of 169.254.169.254
        "http://93.184.216.34:6379/hook",  # a public address, but Redis's port
        "http://93.184.216.34:22/hook",
        "https://93.184.216.34:8443/hook",
    ],
)
async def test_refused(url: str) -> None:
    with pytest.raises(ssrf.UnsafeURL):
        await ssrf.check(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::808:808]/hook",  # NAT64 of 8.8.8.8: public
        "http://93.184.216.34/hook",
        "https://93.184.216.34:443/hook",
        "http://93.184.216.34:80/hook",
    ],
)
async def test_allowed(url: str) -> None:
    target = await ssrf.check(url)
    assert target.address in url


async def test_ports_beyond_80_and_443_only_when_configured_or_for_allowed_hosts() -> None:
    assert (await ssrf.check("http://93.184.216.34:8080/x", allowed_ports=[8080])).port == 8080
    with pytest.raises(ssrf.UnsafeURL, match="port 8081"):
        await ssrf.check("http://93.184.216.34:8081/x", allowed_ports=[8080])
    # An operator's explicitly allowed host (e.g. a receiver on localhost) may use any port.
    assert (await ssrf.check("http://127.0.0.1:9999/x", allowed_hosts=["127.0.0.1"])).port == 9999
