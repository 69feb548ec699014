"""docker-compose.yml cannot run here (no container engine); check its shape instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.main import get_command

from app.cli import cli

ROOT = Path(__file__).resolve().parents[1]


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
        assert env["WG_REDIS_URL"] == "redis://redis:6379/0"
        # A fixed secret in the file would be shared by every deployment: it must come from outside.
        assert env["WG_SECRET_KEY"].startswith("${WG_SECRET_KEY")
    api_deps = services["api"]["depends_on"]
    assert api_deps["migrate"]["condition"] == "service_completed_successfully"


def test_dockerfile_installs_the_wg_command() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install" in text and '"wg", "api"' in text
