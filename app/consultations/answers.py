"""Checking a response's answers against its questionnaire's questions, kind by kind.

Pure functions over the stored question dicts (app/models/consultation.py), so the rules are
one place for the API and the demo alike. Every wrong answer is reported at once, each under
`["body", "answers", <question id>]`.
"""

from __future__ import annotations

from typing import Any

from app.core.errors import ValidationFailed
from app.models import QuestionKind

Errors = list[dict[str, Any]]


def _text(question: dict[str, Any], value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str):
        return None, "a text question takes a string"
    return (value or None), None


def _single(question: dict[str, Any], value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str):
        return None, "a single-choice question takes one option's text"
    if value not in question["options"]:
        return None, f"not one of the options: {value!r}"
    return value, None


def _multiple(question: dict[str, Any], value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, list):
        return None, "a multiple-choice question takes a list of options"
    unknown = [v for v in value if v not in question["options"]]
    if unknown:
        return None, f"not among the options: {', '.join(map(repr, unknown))}"
    if len(set(value)) != len(value):
        return None, "an option is chosen twice"
    # Kept in the questionnaire's order, so equal answers are equal lists.
    return ([o for o in question["options"] if o in value] or None), None


def _scale(question: dict[str, Any], value: Any) -> tuple[Any, str | None]:
    top = question["scale_max"]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
        return None, f"a scale question takes an integer from 1 to {top}"
    return value, None


_CHECKS = {
    QuestionKind.text: _text,
    QuestionKind.single: _single,
    QuestionKind.multiple: _multiple,
    QuestionKind.scale: _scale,
}


def _error(question_id: str, msg: str) -> dict[str, Any]:
    return {"loc": ["body", "answers", question_id], "msg": msg}


def normalize(questions: list[dict[str, Any]], answers: dict[str, Any]) -> dict[str, Any]:
    """The answers as stored (no-answers left out), or 422 naming every wrong one: unknown
    question, wrong type, unknown option, scale out of range, required question unanswered."""
    by_id = {q["id"]: q for q in questions}
    errors: Errors = [_error(qid, "no such question") for qid in answers if qid not in by_id]
    stored: dict[str, Any] = {}
    for question in questions:
        qid = question["id"]
        value = None
        if qid in answers:
            value, msg = _CHECKS[QuestionKind(question["kind"])](question, answers[qid])
            if msg is not None:
                errors.append(_error(qid, msg))
                continue
        if value is not None:
            stored[qid] = value
        elif question["required"]:
            errors.append(_error(qid, "this question needs an answer"))
    if errors:
        names = ", ".join(e["loc"][-1] for e in errors)
        raise ValidationFailed(f"Invalid answers: {names}", errors=errors)
    return stored
