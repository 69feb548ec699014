"""Settings, read from the environment with the ``WG_`` prefix (see README for the table)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Shipped so that `WG_ENV=dev` works without configuration; refused everywhere else because
# anyone who reads this file could forge tokens with it.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"


class Settings(BaseSettings):
    # Errors name the setting, never its value: the value may be a secret.
    model_config = SettingsConfigDict(
        env_prefix="WG_", env_file=None, extra="ignore", hide_input_in_errors=True
    )

    env: Literal["dev", "test", "prod"] = "prod"
    data_dir: Path = Path("./var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite file in data_dir"
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL; unset under `wg serve` starts an embedded Redis"
    )
    secret_key: str = DEV_SECRET_KEY
    # Fernet keys that encrypt secrets stored in the database (app/core/crypto.py): the first
    # encrypts, all decrypt. Comma-separated in the environment. Empty: derived from secret_key.
    encryption_keys: Annotated[list[SecretStr], NoDecode] = []

    access_token_ttl_seconds: int = 3600
    # A password reset token works this long, once; one mail per account per interval at most.
    password_reset_ttl_seconds: int = 3600
    password_reset_interval_seconds: int = 60
    # Argon2 cost; tests lower it so that registering many users stays fast.
    argon2_time_cost: int = 3
    argon2_memory_cost_kib: int = 65536

    max_body_bytes: int = 1024 * 1024
    idempotency_ttl_seconds: int = 24 * 3600
    # A key still pending after this long belongs to a request whose API process died: a retry
    # may take it over. Far longer than any of our requests runs.
    idempotency_abandoned_seconds: int = 120
    # Connections kept per process, and none beyond: overflow connections are closed when
    # returned while others wait, so a busy process would connect over and over.
    db_pool_size: int = 20
    db_max_overflow: int = 0
    # A request that waits this long for a pooled connection (PostgreSQL) or for a new one to
    # open gets 503 with Retry-After instead of hanging.
    db_pool_timeout_seconds: float = 5.0
    # How long a SQLite write waits for the write lock before 503. Not 5 s like the pool: at
    # 5 s the test suite's in-process worker hit "database is locked" under load (a write
    # lock held for seconds somewhere on the SQLite path; not found yet).
    db_sqlite_busy_timeout_seconds: float = 30.0
    # A pooled connection idle this long is pinged before use (a fresh one replaces it if the
    # server has dropped it); busier connections are not (app/core/db.py).
    db_ping_after_idle_seconds: float = 5.0
    # `wg serve` runs the arq worker inside the API process (the embedded deployment).
    run_worker_in_process: bool = False
    # Every API process competes for the relay lease; only the holder publishes.
    run_relay: bool = True
    # All Redis keys start with this, so deployments (and test runs) can share one server.
    redis_prefix: str = "wg"
    events_stream_maxlen: int = 100_000
    relay_lease_seconds: float = 5.0
    relay_poll_seconds: float = 1.0
    # Passes of the relay are at least this far apart: under load, events gather into batches.
    relay_batch_interval_seconds: float = 0.005

    # Dispatcher (arq worker): events not dispatched this long after publication are swept up.
    dispatch_grace_seconds: float = 30.0
    dispatch_sweep_seconds: float = 15.0
    dispatch_claim_idle_seconds: float = 30.0
    # Passes of the dispatcher are at least this far apart: under load, events gather into
    # batches (one transaction each).
    dispatch_batch_interval_seconds: float = 0.01

    # Webhooks (Standard Webhooks 1.0)
    # Seconds before each retry; a jitter of up to 10 % is added.
    webhook_retry_schedule: list[float] = [5, 300, 1800, 7200, 18000, 36000, 36000]
    webhook_connect_timeout: float = 5.0
    webhook_timeout: float = 15.0
    webhook_disable_after_seconds: float = 5 * 24 * 3600
    webhook_max_response_bytes: int = 64 * 1024
    webhook_secret_overlap_seconds: float = 24 * 3600
    # Hosts (names or addresses) exempt from the SSRF guard, e.g. ["127.0.0.1"] in tests.
    webhook_allowed_hosts: list[str] = []
    # Ports webhooks may use besides 80 and 443 (allowed hosts may use any).
    webhook_allowed_ports: list[int] = []
    # `POST /webhooks/{id}/test` calls waiting on receivers at once, per user and API process.
    webhook_tests_per_user: int = 2
    # Deliveries one worker holds at once: claimed, and being sent or next in their endpoint's
    # run (an endpoint never has more than one request in flight).
    webhook_max_in_flight: int = 100
    # How many of an endpoint's due deliveries one claim takes, to send one after another.
    webhook_run_size: int = 10
    # The deliverer looks for due deliveries at least this often; dispatch and redeliveries
    # wake it at once, and it wakes itself for the retries it scheduled.
    webhook_poll_seconds: float = 1.0
    # After an attempt ends, the deliverer waits this long for others, to record them together.
    webhook_batch_interval_seconds: float = 0.002
    # `wg worker` serves its metrics (deliveries, latency, queue depth) on this port when set;
    # `wg serve` shows them in the API's /metrics.
    worker_metrics_port: int | None = None
    # When set, /metrics answers only `Authorization: Bearer <token>` (Prometheus'
    # `authorization` setting); unset, anyone who reaches the port may read it.
    metrics_token: str | None = None
    # The interactive API docs (/docs, /redoc); /openapi.json stays.
    docs_enabled: bool = True

    # Email (SMTP). Without smtp_host no mail is sent; the in-app inbox works regardless.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    # "starttls" upgrades a plain connection (port 587), "tls" is implicit TLS (port 465).
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_timeout_seconds: float = 15.0
    smtp_from: str = "wghub <no-reply@wghub.localhost>"
    # An SMTP failure retries the mail after base·2^(try-1) seconds (capped), up to max tries.
    email_retry_base_seconds: float = 30.0
    email_retry_max_seconds: float = 3600.0
    email_max_tries: int = 10
    # Daily digests go out at this hour (UTC) to users whose preference is `daily`.
    digest_hour_utc: int = Field(default=7, ge=0, le=23)
    # Reminders: a meeting reminder this long before the start.
    meeting_reminder_minutes: int = 60

    # Rate limits per minute (0 turns one off); see app/core/ratelimit.py.
    rate_writes_per_minute_credential: int = 300
    rate_writes_per_minute_ip: int = 1200
    rate_sign_ins_per_minute_ip: int = 20
    # Sign-in attempts per account (the email), from any number of addresses.
    rate_sign_ins_per_minute_account: int = 10
    # Proxies whose X-Forwarded-For names the client (comma-separated IPs or CIDRs; `*`
    # trusts every peer). Empty: none; the socket peer is the client (app/main.py).
    forwarded_allow_ips: str = ""

    # Websockets
    ws_max_connections_per_user: int = 20  # per API process
    ws_replay_limit: int = 1000
    ws_queue_size: int = 1000
    ws_heartbeat_seconds: float = 25.0
    ws_messages_per_second: float = 20.0
    ws_message_burst: int = 40
    ws_max_message_bytes: int = 4096
    ws_db_concurrency: int = 8
    # A websocket ticket (POST /auth/ws-ticket) opens one websocket within this many seconds.
    ws_ticket_ttl_seconds: int = Field(default=30, ge=1, le=30)
    # How often open websockets' credentials are checked again: a revoked, expired or
    # deactivated one closes its websockets (4401) within this.
    ws_credential_check_seconds: float = Field(default=15.0, gt=0, le=30)
    log_level: str = "info"
    # `json` or `console`; unset: console for `wg serve` at a terminal, JSON otherwise
    # (app/core/logs.py).
    log_format: Literal["json", "console"] | None = None

    @field_validator("encryption_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _check_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for number, key in enumerate(keys, start=1):
            try:
                Fernet(key.get_secret_value())
            except ValueError:  # binascii.Error included
                raise ValueError(
                    f"WG_ENCRYPTION_KEYS: key {number} of {len(keys)} is not a Fernet key "
                    "(32 bytes in URL-safe base64, 44 characters); make one with "
                    "`wg generate-encryption-key`"
                ) from None
        return keys

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        # uvicorn's middleware takes a malformed entry as a literal host name that never
        # matches: refuse it here instead of silently trusting no one.
        for item in (part.strip() for part in value.split(",")):
            if item and item != "*":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError as exc:
                    raise ValueError(f"not an IP address or network: {item!r}") from exc
        return value

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.secret_key == DEV_SECRET_KEY and self.env != "dev":
            raise ValueError(
                "WG_SECRET_KEY is the built-in development key; set a secret of your own "
                "(at least 32 random characters) or WG_ENV=dev"
            )
        if len(self.secret_key) < 32:
            raise ValueError("WG_SECRET_KEY must be at least 32 characters long")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'wghub.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def effective_redis_url(self) -> str:
        if not self.redis_url:
            raise RuntimeError(
                "WG_REDIS_URL is not set; `wg serve` starts an embedded Redis, "
                "`wg api` and `wg worker` need one"
            )
        return self.redis_url


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; `create_app(settings)` may pass others (tests do)."""
    return Settings()
