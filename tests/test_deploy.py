"""docker-compose.yml cannot run here (no container engine); check its shape instead."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from arq.connections import RedisSettings
from redis.connection import parse_url
from typer.main import get_command

from app.cli import cli

ROOT = Path(__file__).resolve().parents[1]
# A required variable, as compose writes it: `${NAME:?message}` (compose refuses to start
# without it).
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]*\}")
PASSWORD = "pw0123456789abcdef"


def _interpolate(value: str) -> str:
    """What compose makes of `value` with REDIS_PASSWORD=PASSWORD; no other variable allowed."""

    def sub(match: re.Match[str]) -> str:
        assert match.group(1) == "REDIS_PASSWORD", value
        return PASSWORD

    return REQUIRED.sub(sub, value)


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_has_the_production_services() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", "worker"}


def test_compose_services_run_real_wg_commands() -> None:
    services = _compose()["services"]
    wg_commands = set(get_command(cli).commands)  # type: ignore[attr-defined]
    expected = {"migrate": "migrate", "api": "api", "worker": "worker"}
    for service, sub in expected.items():
        command = services[service]["command"]
        assert command[:2] == ["wg", sub], service
        assert sub in wg_commands


def test_compose_wires_the_same_database_and_redis_to_every_wg_service() -> None:
    services = _compose()["services"]
    envs = [services[name]["environment"] for name in ("migrate", "api", "worker")]
    for env in envs:
        assert env["WG_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "@postgres:5432/" in env["WG_DATABASE_URL"]
        assert _interpolate(env["WG_REDIS_URL"]).endswith("@redis:6379/0")
        # A fixed secret in the file would be shared by every deployment: it must come from outside.
        assert env["WG_SECRET_KEY"].startswith("${WG_SECRET_KEY")
    api_deps = services["api"]["depends_on"]
    assert api_deps["migrate"]["condition"] == "service_completed_successfully"


def test_compose_redis_requires_a_password_from_the_environment() -> None:
    services = _compose()["services"]
    redis = services["redis"]
    command = redis["command"]
    password = command[command.index("--requirepass") + 1]
    assert REQUIRED.fullmatch(password) and _interpolate(password) == PASSWORD
    # The health check authenticates with the same variable (without it: NOAUTH, unhealthy).
    assert _interpolate(redis["environment"]["REDISCLI_AUTH"]) == PASSWORD
    for name in ("migrate", "api", "worker"):
        url = services[name]["environment"]["WG_REDIS_URL"]
        assert PASSWORD not in url and "REDIS_PASSWORD" in url  # by variable, not a literal
        # Both kinds of client read the password from the URL compose makes of it.
        assert parse_url(_interpolate(url))["password"] == PASSWORD
        assert RedisSettings.from_dsn(_interpolate(url)).password == PASSWORD


def test_dockerfile_installs_the_wg_command() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install" in text and '"wg", "api"' in text
