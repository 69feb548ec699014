"""A questionnaire's summary: figures per question and response rates.

The responses come from one statement (queries.responses_with_organizations) and are counted
here: answers are JSON, which SQLite and PostgreSQL aggregate in different dialects, and a
questionnaire has at most one response per organization of the network, so counting in Python
costs little. Response rate = member organizations that responded / member organizations
(distinct organizations named by the group's memberships), overall and per country; a response
of an organization that has since left the group still counts in the figures per question.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from app.consultations import queries
from app.consultations.schemas import (
    OptionCount,
    QuestionnaireSummary,
    QuestionSummary,
    ResponseRate,
    ScaleCount,
)
from app.groups.access import GroupContext
from app.models import QuestionKind, Questionnaire


def _question(question: dict[str, Any], given: list[Any]) -> QuestionSummary:
    kind = QuestionKind(question["kind"])
    summary = QuestionSummary(
        id=question["id"],
        text=question["text"],
        kind=kind,
        focus_area_id=question["focus_area_id"],
        answered=len(given),
    )
    if kind in (QuestionKind.single, QuestionKind.multiple):
        chosen = Counter(o for a in given for o in (a if isinstance(a, list) else [a]))
        summary.options = [OptionCount(option=o, count=chosen[o]) for o in question["options"]]
    elif kind == QuestionKind.scale:
        values = Counter(given)
        top = question["scale_max"]
        summary.histogram = [ScaleCount(value=v, count=values[v]) for v in range(1, top + 1)]
        summary.mean = round(sum(given) / len(given), 2) if given else None
    return summary


def _rate(country: str | None, responding: int, members: int) -> ResponseRate:
    rate = round(responding / members, 4) if members else None
    return ResponseRate(country=country, responding=responding, members=members, rate=rate)


async def summarize(
    *,
    ctx: GroupContext,
    questionnaire: Questionnaire,
    country: str | None,
    focus_area_id: uuid.UUID | None,
) -> QuestionnaireSummary:
    """Figures of the responses (of organizations in `country`, when given) to the questions
    (of `focus_area_id`, when given)."""
    conn = ctx.tx.conn
    rows = await queries.responses_with_organizations(conn, questionnaire.id, country=country)
    members = await queries.member_organizations(conn, ctx.group.id, country=country)
    answered_by = {row.organization_id for row in rows}

    countries = sorted({m.country for m in members})
    by_country = [
        _rate(
            c,
            sum(1 for m in members if m.country == c and m.id in answered_by),
            sum(1 for m in members if m.country == c),
        )
        for c in countries
    ]
    responding = sum(1 for m in members if m.id in answered_by)

    questions = [
        q
        for q in questionnaire.questions
        if focus_area_id is None or q["focus_area_id"] == str(focus_area_id)
    ]
    return QuestionnaireSummary(
        questionnaire_id=questionnaire.id,
        country=country,
        focus_area_id=focus_area_id,
        responses=len(rows),
        response_rate=_rate(country, responding, len(members)),
        by_country=by_country,
        questions=[
            _question(q, [row.answers[q["id"]] for row in rows if q["id"] in row.answers])
            for q in questions
        ],
    )
