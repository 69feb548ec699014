"""A questionnaire's responses as CSV: one row per response, a column per question."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.consultations import queries
from app.core.spreadsheet import safe_cell
from app.models import Questionnaire

# Before the questions' columns; each question's header is `<id>: <text>`.
LEADING_COLUMNS = (
    "response_id",
    "organization_id",
    "organization",
    "country",
    "submitted_by",
    "interviewed_by",
    "updated_at",
)
# A multiple-choice answer's options share one cell.
OPTION_SEPARATOR = "; "


def _answer(value: Any) -> Any:
    return OPTION_SEPARATOR.join(value) if isinstance(value, list) else value


async def responses_csv(conn: AsyncConnection, questionnaire: Questionnaire) -> str:
    """Every response, oldest first (RFC 4180, every cell neutralised for spreadsheets)."""
    questions = questionnaire.questions
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = [*LEADING_COLUMNS, *(f"{q['id']}: {q['text']}" for q in questions)]
    writer.writerow([safe_cell(h) for h in header])
    for row in await queries.responses_with_organizations(conn, questionnaire.id):
        leading = [
            row.id,
            row.organization_id,
            row.organization_name,
            row.country,
            row.submitted_by,
            row.interviewed_by,
            row.updated_at.isoformat().replace("+00:00", "Z"),
        ]
        answers = [_answer(row.answers.get(q["id"])) for q in questions]
        writer.writerow([safe_cell(v) for v in (*leading, *answers)])
    return out.getvalue()
