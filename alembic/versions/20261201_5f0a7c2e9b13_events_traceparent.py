"""events carry the trace context of the request that wrote them (traceparent)

The worker continues that trace when it dispatches the event and delivers its webhooks
(issue 17). Null when tracing is off, and for every event written before.

Revision ID: 5f0a7c2e9b13
Revises: 8b9b42957234
Create Date: 2026-12-01 20:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5f0a7c2e9b13'
down_revision: str | None = '8b9b42957234'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column with no default: a catalog-only change on both databases.
    op.add_column('events', sa.Column('traceparent', sa.String(length=55), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('traceparent')
