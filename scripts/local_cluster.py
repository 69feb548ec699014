"""Run a scaled-out wghub on this machine to poke at: N `wg api` replicas and M `wg worker`
processes on one PostgreSQL and one Redis (the shape tests/test_cluster_scaleout.py checks).

    .venv/bin/python scripts/local_cluster.py --database-url postgresql+asyncpg://USER@HOST/DB \\
        --redis-url redis://HOST:6379/0

The database is migrated first; Ctrl-C stops everything. This is a test rig, not a
deployment: rate limits are off, password hashing is cheap, and webhooks may target
127.0.0.1 (a receiver on this machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
from pathlib import Path

# The cluster helper lives in tests/, which is not installed: import it from the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.config import Settings
from app.core.migrations import upgrade
from tests.cluster import Cluster


async def run(settings: Settings, args: argparse.Namespace) -> None:
    # SIGTERM too must stop the children rather than leave them running.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    async with Cluster(
        settings, prefix=args.prefix, apis=args.apis, workers=args.workers
    ) as cluster:
        for api in cluster.apis:
            relay = "  (holds the relay lease)" if api is cluster.relay_holder else ""
            print(f"api    pid {api.pid}  {api.base_url}  {api.ws_url}{relay}")
            print(f"       docs http://127.0.0.1:{api.port}/docs")
        for worker in cluster.workers:
            print(f"worker pid {worker.pid}")
        print(f"Redis key prefix {cluster.prefix!r}. Ctrl-C stops the cluster.", flush=True)
        gone = await cluster.first_exit()
        print(f"pid {gone.pid} exited; its output:\n{gone.output()[-5000:]}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("WG_DATABASE_URL"),
        help="PostgreSQL, as an SQLAlchemy async URL (default: $WG_DATABASE_URL)",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("WG_REDIS_URL"), help="default: $WG_REDIS_URL"
    )
    parser.add_argument("--apis", type=int, default=2, help="API replicas (default: 2)")
    parser.add_argument("--workers", type=int, default=2, help="workers (default: 2)")
    parser.add_argument("--prefix", default="wgcluster", help="Redis key prefix")
    args = parser.parse_args()
    if not args.database_url or not args.redis_url:
        parser.error("--database-url and --redis-url (or WG_DATABASE_URL, WG_REDIS_URL) are needed")
    settings = Settings(
        database_url=args.database_url,
        redis_url=args.redis_url,
        # Shared by all replicas, so a token from one is good on the others.
        secret_key=os.environ.get("WG_SECRET_KEY") or secrets.token_urlsafe(48),
        webhook_allowed_hosts=["127.0.0.1"],
    )
    upgrade(settings)
    # Ctrl-C (or SIGTERM) cancels run(), whose exit stops every process.
    try:
        asyncio.run(run(settings, args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("stopped")


if __name__ == "__main__":
    main()
