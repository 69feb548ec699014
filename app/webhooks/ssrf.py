"""SSRF guard for webhook URLs: only http(s) to public addresses, checked when an endpoint is
saved and again at every delivery, where the connection goes to the address that was checked
(so a DNS answer that changes in between cannot redirect us into our own network)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]


class UnsafeURL(ValueError):
    """The URL may not be called: bad scheme, credentials, or a non-public address."""


@dataclass(frozen=True)
class Target:
    url: str  # the URL as given
    host: str
    port: int
    address: str  # the checked IP to connect to

    @property
    def connect_url(self) -> str:
        """The URL with the host replaced by the checked address."""
        parts = urlsplit(self.url)
        ip = f"[{self.address}]" if ":" in self.address else self.address
        netloc = f"{ip}:{self.port}"
        path = parts.path or "/"
        return f"{parts.scheme}://{netloc}{path}" + (f"?{parts.query}" if parts.query else "")

    @property
    def host_header(self) -> str:
        default = {"http": 80, "https": 443}[urlsplit(self.url).scheme]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


# NAT64 (RFC 6052, RFC 8215): a gateway turns these IPv6 addresses into the IPv4 address
# embedded in them, so `64:ff9b::a9fe:a9fe` reaches 169.254.169.254 (cloud metadata).
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
# Ports a webhook may use unless its host is explicitly allowed: the web's, not a database's
# or a mail server's on a public address.
DEFAULT_PORTS = (80, 443)


def nat64_embedded(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a NAT64 address stands for, or None."""
    bits = int(ip)
    if ip in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(bits & 0xFFFFFFFF)
    if ip in _NAT64_LOCAL_USE:  # a /48 prefix: the IPv4 address sits around the `u` octet
        return ipaddress.IPv4Address((((bits >> 64) & 0xFFFF) << 16) | ((bits >> 40) & 0xFFFF))
    return None


def is_public(ip: IPAddress) -> bool:
    """Globally routable unicast only: no loopback, private, link-local (cloud metadata),
    CGNAT, multicast, reserved or unspecified addresses, no IPv4-mapped IPv6, and NAT64
    addresses only for a public IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped or ip.sixtofour or ip.teredo:
            return False
        embedded = nat64_embedded(ip)
        if embedded is not None:
            return is_public(embedded)
    return ip.is_global and not ip.is_multicast


def parse(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable URL, or UnsafeURL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL("not a valid URL") from exc
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("only http and https URLs are allowed")
    if parts.username or parts.password:
        raise UnsafeURL("credentials in the URL are not allowed")
    if not parts.hostname:
        raise UnsafeURL("the URL has no host")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check(
    url: str,
    *,
    allowed_hosts: Sequence[str] = (),
    allowed_ports: Sequence[int] = (),
    resolver: Resolver = system_resolver,
) -> Target:
    """Resolve the URL's host and return the first address that may be called.

    Every address the name resolves to must be public (an attacker controlling DNS could
    otherwise pick which one we use), and the port 80, 443 or one of `allowed_ports`, unless
    the host or its address is explicitly allowed.
    """
    _, host, port = parse(url)
    trusted = host in allowed_hosts
    if not trusted and port not in DEFAULT_PORTS and port not in allowed_ports:
        raise UnsafeURL(f"port {port} is not allowed (80, 443 and the configured ones are)")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [str(literal)] if literal else await _resolve(resolver, host, port)
    allowed = set(allowed_hosts)
    if trusted:
        return Target(url, host, port, addresses[0])
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not is_public(ip) and address not in allowed:
            raise UnsafeURL(f"{host} resolves to a non-public address ({address})")
    return Target(url, host, port, addresses[0])


async def _resolve(resolver: Resolver, host: str, port: int) -> list[str]:
    try:
        addresses = await resolver(host, port)
    except OSError as exc:
        raise UnsafeURL(f"cannot resolve {host}") from exc
    if not addresses:
        raise UnsafeURL(f"cannot resolve {host}")
    return addresses
