"""Async engine, and the transaction a request works in.

A request owns one transaction on one connection (`Tx`): it commits when the route returns and
rolls back when it raises, before the response is sent. Hot paths run SQLAlchemy Core
statements on `tx.conn` (each domain's `queries.py`); cold paths that read better with the ORM
take `SessionDep`, a session joined to the same transaction. Services never commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext import asyncio as sa_asyncio
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)

from app.core.config import Settings
from app.core.responses import dumps_text

SessionFactory = async_sessionmaker[AsyncSession]

# Called after every successful commit that wrote events (the relay's wake-up).
AfterCommitHook = Callable[[], None]
AfterCommitAction = Callable[[], Awaitable[None]]


def create_engine(settings: Settings) -> AsyncEngine:
    # `sa_asyncio.create_async_engine` is looked up at each call: tracing, when on, wraps it
    # there so that its engines are traced (app/core/tracing.py).
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            from pathlib import Path

            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa_asyncio.create_async_engine(
            url,
            # SQLite's busy timeout: how long a write waits for the lock before "database is
            # locked" (503, app/core/errors.py).
            connect_args={"timeout": settings.db_sqlite_busy_timeout_seconds},
            json_serializer=dumps_text,
            json_deserializer=orjson.loads,
        )
        _configure_sqlite(
            engine, busy_timeout_ms=int(settings.db_sqlite_busy_timeout_seconds * 1000)
        )
        return engine
    engine = sa_asyncio.create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        connect_args={"timeout": settings.db_pool_timeout_seconds},  # asyncpg's connect timeout
        # Event data and other JSON columns hold UUIDs and date-times as they come.
        json_serializer=dumps_text,
        json_deserializer=orjson.loads,
        # No pool_pre_ping: a round trip (~0.2 ms of CPU) on every checkout. See below.
    )
    _discard_dead_connections(engine, settings.db_ping_after_idle_seconds)
    return engine


def _discard_dead_connections(engine: AsyncEngine, ping_after_idle: float) -> None:
    """Replace a pooled connection the server has dropped (restart, idle timeout), at checkout.

    A connection whose socket is known closed is dropped at once (a local check); one that
    sat idle in the pool for `ping_after_idle` seconds is pinged first — where disconnects
    happen — while the connections of a busy server, used again within moments, are not:
    `pool_pre_ping` would spend a round trip on every request. Raising DisconnectionError
    makes the pool discard the connection and hand out a fresh one.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_conn, "driver_connection", None)
        if driver is not None and driver.is_closed():
            raise exc.DisconnectionError("connection closed by the server")
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since >= ping_after_idle:
            try:
                dbapi_conn.ping()
            except Exception as error:
                raise exc.DisconnectionError("connection lost while idle") from error


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    """WAL for concurrent readers, foreign keys on, and BEGIN IMMEDIATE.

    SQLite's default deferred transactions fail with "database is locked" when two readers both
    try to upgrade to writers; taking the write lock at BEGIN makes writers queue instead
    (busy timeout), which is what gives each group's event `seq` its order here. A writer that
    waits longer than the busy timeout gets "database is locked": 503 (app/core/errors.py).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class Tx:
    """One transaction on one connection: the unit of work of a request.

    `conn` runs Core statements; `session()` gives an ORM session joined to the same
    transaction (created on first use, flushed before the commit). `events_written` tells the
    owner to wake the outbox relay after the commit; `after_commit` queues actions (such as
    enqueueing a job that must find the committed rows) that run only once committed.
    `writing`: the request is a write (POST, PUT, PATCH, DELETE), which a read-only
    credential may not make (checked where the caller is authenticated).
    """

    __slots__ = ("_after_commit", "_session", "conn", "events_written", "owned", "writing")

    def __init__(self, conn: AsyncConnection, *, owned: bool = True, writing: bool = False) -> None:
        self.conn = conn
        self.writing = writing
        self._session: AsyncSession | None = None
        self.events_written = False
        self._after_commit: list[AfterCommitAction] = []
        # False for the Tx of a session someone else commits (a job's): nobody would run
        # its after-commit actions, so it takes none.
        self.owned = owned

    @classmethod
    async def of_session(cls, session: AsyncSession) -> Tx:
        """A Tx over the current transaction of a session a job (or the demo seed) opened and
        commits itself; valid until that session commits."""
        existing = tx_of(session)
        if existing is not None:
            return existing
        tx = cls(await session.connection(), owned=False)
        tx._session = session
        session.info["tx"] = tx
        return tx

    def note_events_written(self) -> None:
        """Events were written: the owner (request or job) wakes the relay after commit."""
        self.events_written = True
        if self._session is not None:
            self._session.info["events_written"] = True

    def session(self) -> AsyncSession:
        """The ORM session of this transaction (one per transaction)."""
        if self._session is None:
            # Bound to a connection already in a transaction, the session works inside it
            # and never commits it ("conditional_savepoint"): the owner of the Tx does.
            self._session = AsyncSession(
                bind=self.conn,
                expire_on_commit=False,
                autoflush=False,
                join_transaction_mode="conditional_savepoint",
                info={"tx": self},
            )
        return self._session

    def after_commit(self, action: AfterCommitAction) -> None:
        if not self.owned:
            raise RuntimeError("after_commit needs a request transaction")
        self._after_commit.append(action)

    async def _finish(self) -> None:
        """Flush what the ORM session still holds, so it is part of the commit."""
        if self._session is not None:
            await self._session.flush()

    async def _close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def tx_of(session: AsyncSession) -> Tx | None:
    """The request transaction a session belongs to (None for a job's own session)."""
    tx = session.info.get("tx")
    return tx if isinstance(tx, Tx) else None


def mark_events_written(session: AsyncSession) -> None:
    """Note that the session's transaction wrote events (the relay is woken after commit)."""
    tx = tx_of(session)
    if tx is not None:
        tx.note_events_written()
    session.info["events_written"] = True


# Methods whose routes only read: their statements run in autocommit (no BEGIN/COMMIT round
# trips; PostgreSQL's READ COMMITTED gives each statement its own snapshot either way).
T = TypeVar("T")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SCOPE_KEY = "wg.request_tx"


class RequestTx:
    """The transaction of one request: opened when a dependency first asks for it (routes
    that touch no table never take a connection), committed when the route returns, rolled
    back when it raises — before the response is sent, so a 2xx means the change is durable.
    """

    __slots__ = ("_conn", "app", "read_only", "tx", "writing")

    def __init__(self, app: Any, read_only: bool, writing: bool) -> None:
        self.app = app
        self.read_only = read_only
        self.writing = writing
        self.tx: Tx | None = None
        self._conn: AsyncConnection | None = None

    async def open(self) -> Tx:
        if self.tx is None:
            engine: AsyncEngine = self.app.state.engine
            conn = await engine.connect()
            try:
                if self.read_only:
                    conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                else:
                    await conn.begin()
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
            self.tx = Tx(conn, writing=self.writing)
        return self.tx

    async def commit(self) -> None:
        tx, conn = self.tx, self._conn
        if tx is None or conn is None:
            return
        self.tx = self._conn = None  # done: a later use opens a new transaction
        try:
            await tx._finish()
            if not self.read_only:
                await conn.commit()
        finally:
            await tx._close()
            await conn.close()
        if tx.events_written:
            hook: AfterCommitHook | None = getattr(self.app.state, "after_commit", None)
            if hook is not None:
                hook()
        for action in tx._after_commit:
            await action()

    async def rollback(self) -> None:
        tx, conn = self.tx, self._conn
        if tx is None or conn is None:
            return
        self.tx = self._conn = None
        try:
            # The connection may be the reason (gone mid-request): its return to the pool
            # rolls back anyway, so a failing rollback must not hide the original error.
            with contextlib.suppress(Exception):
                await tx._close()
                await conn.rollback()
        finally:
            await conn.close()


async def to_the_end(unit: Awaitable[T]) -> T:
    """Run a short database unit to its end even if the caller is cancelled meanwhile (a
    background loop stopped at shutdown): a transaction cut off in the middle of a statement
    can leave its connection checked out with the transaction open, and on SQLite that holds
    the database-wide write lock until the process ends ("database is locked" for everyone).
    The caller still gets its cancellation, once the unit is done (milliseconds)."""
    task = asyncio.ensure_future(unit)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


@contextlib.asynccontextmanager
async def autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose statements each commit on their own, for work that needs no
    transaction around it (a single statement, or independent ones): no BEGIN and COMMIT
    round trips on PostgreSQL. On SQLite, one short transaction instead: its pooled
    connections keep their mode (see `_autocommit_reads`)."""
    if engine.dialect.name == "sqlite":
        async with engine.begin() as conn:
            yield conn
        return
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


def _autocommit_reads(request: Request) -> bool:
    # SQLite keeps its transactions: its writers queue at BEGIN IMMEDIATE (see above), and
    # switching a pooled connection's mode back and forth would undo that setting.
    return request.method in READ_METHODS and request.app.state.engine.dialect.name != "sqlite"


class TransactionRoute(APIRoute):
    """The app's route class: every HTTP route runs inside its request's transaction."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def in_transaction(request: Request) -> Response:
            owner = RequestTx(
                request.app, _autocommit_reads(request), request.method not in READ_METHODS
            )
            request.scope[_SCOPE_KEY] = owner
            try:
                response = await handler(request)
            except BaseException:
                await owner.rollback()
                raise
            await owner.commit()
            return response

        return in_transaction


async def request_tx(request: Request) -> Tx:
    """The request's Tx (opening it on first use); what `TxDep` gives a route."""
    owner: RequestTx | None = request.scope.get(_SCOPE_KEY)
    if owner is None:
        raise RuntimeError("TxDep needs a route of the TransactionRoute class")
    return await owner.open()


async def commit_early(request: Request) -> None:
    """Commit the request's transaction now, before the route is done: a route that calls
    out over the network must not hold a transaction (and its locks) while it waits. A later
    use of the request's Tx opens a new transaction."""
    owner: RequestTx | None = request.scope.get(_SCOPE_KEY)
    if owner is not None:
        await owner.commit()


async def _request_session(tx: TxDep) -> AsyncSession:
    return tx.session()


def after_commit(session: AsyncSession, action: AfterCommitAction) -> None:
    """Run `action` once the request's transaction has committed (e.g. enqueue a job that
    must find the committed rows). It does not run if the transaction rolls back."""
    tx = tx_of(session)
    if tx is None:
        raise RuntimeError("after_commit needs a request transaction")
    tx.after_commit(action)


TxDep = Annotated[Tx, Depends(request_tx)]
SessionDep = Annotated[AsyncSession, Depends(_request_session)]
