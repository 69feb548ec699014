"""Re-encrypt every stored secret with the first encryption key (`wg rotate-encryption-key`).

Rows are read a batch at a time in a short read, re-encrypted outside any transaction, and
written back in one short transaction per batch. Each write is conditional on the ciphertexts
it replaces (compare and set), so a secret rotated meanwhile by an API process is never
overwritten with an older one: it is left to the next pass. Passes repeat until one finds
nothing left to re-encrypt, which also makes running the command twice harmless.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import Column, Table, Update, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.crypto import InvalidToken, Keyring
from app.core.db import autocommit
from app.models import WebhookEndpoint
from app.models.base import table_of

# Every column holding a secret encrypted with app/core/crypto.py: (table, its columns).
ENCRYPTED_COLUMNS: tuple[tuple[Table, tuple[str, ...]], ...] = (
    (table_of(WebhookEndpoint), ("secret_encrypted", "previous_secret_encrypted")),
)

# Passes at most. The last one normally finds nothing; more are needed only while processes
# that still encrypt with another first key keep writing secrets.
MAX_PASSES = 5


@dataclass
class Outcome:
    reencrypted: int = 0  # ciphertexts written back under the first key
    pending: int = 0  # still under another key at the last pass (written during the run)
    unreadable: set[str] = field(default_factory=set)  # "table.column id": no key opens it


@dataclass
class _Pass:
    reencrypted: int = 0
    changed_meanwhile: int = 0  # rows whose ciphertexts changed between the read and the write


async def rotate_all(engine: AsyncEngine, keys: Keyring, *, batch_size: int = 500) -> Outcome:
    """Re-encrypt every stored secret that the first key does not open yet."""
    outcome = Outcome()
    for _ in range(MAX_PASSES):
        found = _Pass()
        for table, columns in ENCRYPTED_COLUMNS:
            await _rotate_table(engine, keys, table, columns, batch_size, found, outcome)
        outcome.reencrypted += found.reencrypted
        outcome.pending = found.reencrypted + found.changed_meanwhile
        if outcome.pending == 0:
            break
    return outcome


async def _rotate_table(
    engine: AsyncEngine,
    keys: Keyring,
    table: Table,
    columns: tuple[str, ...],
    batch_size: int,
    found: _Pass,
    outcome: Outcome,
) -> None:
    id_col: Column[uuid.UUID] = table.c.id
    # Re-encryption changes nothing anyone sees: an `updated_at` keeps its value.
    keep = {"updated_at": table.c.updated_at} if "updated_at" in table.c else {}
    after: uuid.UUID | None = None
    while True:
        query = select(id_col, *(table.c[c] for c in columns)).order_by(id_col).limit(batch_size)
        if after is not None:
            query = query.where(id_col > after)
        async with autocommit(engine) as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            return
        after = rows[-1].id
        writes: list[tuple[Update, int]] = []
        for row in rows:
            old = {c: getattr(row, c) for c in columns if getattr(row, c) is not None}
            new: dict[str, str] = {}
            for column, token in old.items():
                if keys.is_current(token):
                    continue
                try:
                    new[column] = keys.rotate(token)
                except InvalidToken:
                    outcome.unreadable.add(f"{table.name}.{column} {row.id}")
            if new:
                stmt = update(table).where(id_col == row.id, *(table.c[c] == old[c] for c in new))
                writes.append((stmt.values(**new, **keep), len(new)))
        if writes:
            async with engine.begin() as conn:
                for stmt, count in writes:
                    if (await conn.execute(stmt)).rowcount == 1:
                        found.reencrypted += count
                    else:
                        found.changed_meanwhile += 1
