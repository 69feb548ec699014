"""Poll kinds: what a valid poll and a valid stance are, and how stances add up to results.

Pure functions (no database), so each kind's arithmetic is tested on known stances.

Options have ids (`o1`, `o2`, …). A stance's `choices` is, by kind:
- `single`: a list of one option id; `multiple`: a list of up to `max_choices` option ids;
- `ranked`: a list of option ids in order of preference (all or some of them);
- `score`: `{option id: 0..score_max}`, every option scored;
- `dot`: `{option id: dots}`, non-negative integers summing to at most `dots`;
- `time`: `{option id: "yes" | "maybe" | "no"}`, every slot answered.

Results, per option in the poll's order: `count` (single, multiple), `sum` and `mean` (score),
`points` by Borda count (ranked: with n options the first gets n points, the second n - 1, …,
an unranked option 0), `sum` (dot), `yes` and `maybe` counts (time); and `voters`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from app.models import PollKind

MAX_OPTIONS = 50
TIME_ANSWERS = {"yes": 2, "maybe": 1, "no": 0}


LIST_KINDS = frozenset({PollKind.single, PollKind.multiple, PollKind.ranked})


class Invalid(ValueError):
    """A poll's settings or a stance that the kind does not allow; `field` names the part."""

    def __init__(self, field: str, msg: str) -> None:
        super().__init__(msg)
        self.field = field
        self.msg = msg


@dataclass(frozen=True)
class Rules:
    """What a stance of this poll must satisfy."""

    kind: PollKind
    option_ids: tuple[str, ...]
    max_choices: int | None = None
    dots: int | None = None
    score_max: int | None = None


def option_ids(count: int) -> list[str]:
    return [f"o{i}" for i in range(1, count + 1)]


def check_settings(
    kind: PollKind,
    options: Sequence[Any],
    *,
    max_choices: int | None,
    dots: int | None,
    score_max: int | None,
) -> None:
    """The settings a kind needs, and only those; `Invalid` naming the field otherwise.
    `options`: titles, or (starts_at, ends_at) pairs for a time poll."""
    if not 2 <= len(options) <= MAX_OPTIONS:
        raise Invalid("options", f"a poll has 2 to {MAX_OPTIONS} options")
    wanted = {
        "max_choices": kind == PollKind.multiple,
        "dots": kind == PollKind.dot,
        "score_max": kind == PollKind.score,
    }
    given = {"max_choices": max_choices, "dots": dots, "score_max": score_max}
    for field, needed in wanted.items():
        if needed and given[field] is None:
            raise Invalid(field, f"a {kind.value} poll needs {field}")
        if not needed and given[field] is not None:
            raise Invalid(field, f"only for {_kind_of(field)} polls")
    if max_choices is not None and max_choices > len(options):
        raise Invalid("max_choices", "cannot exceed the number of options")
    is_time = kind == PollKind.time
    for index, option in enumerate(options):
        if is_time == isinstance(option, str):
            what = "{starts_at, ends_at} slots" if is_time else "titles"
            raise Invalid("options", f"the options of a {kind.value} poll are {what}")
        if is_time and option[1] <= option[0]:
            raise Invalid("options", f"slot {index + 1} ends before it starts")
    if not is_time and len({str(o).casefold() for o in options}) != len(options):
        raise Invalid("options", "options must differ")


def _kind_of(field: str) -> str:
    return {"max_choices": "multiple", "dots": "dot", "score_max": "score"}[field]


def normalize_stance(rules: Rules, choices: Any) -> list[str] | dict[str, int]:
    """The stance as stored (time answers as 2, 1, 0), or `Invalid` naming `choices`."""
    known = set(rules.option_ids)
    if rules.kind in LIST_KINDS:
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise Invalid("choices", f"a {rules.kind.value} poll takes a list of option ids")
        if len(set(choices)) != len(choices):
            raise Invalid("choices", "an option is chosen twice")
        if unknown := [c for c in choices if c not in known]:
            raise Invalid("choices", f"unknown option {unknown[0]!r}")
        limit = {PollKind.single: 1, PollKind.multiple: rules.max_choices}.get(rules.kind)
        if not choices or (limit is not None and len(choices) > limit):
            raise Invalid("choices", f"choose 1 to {limit or len(known)} options")
        return list(choices)
    if not isinstance(choices, dict):
        raise Invalid("choices", f"a {rules.kind.value} poll takes {{option id: value}}")
    if unknown := [c for c in choices if c not in known]:
        raise Invalid("choices", f"unknown option {unknown[0]!r}")
    if rules.kind == PollKind.time:
        if set(choices) != known or not all(v in TIME_ANSWERS for v in choices.values()):
            raise Invalid("choices", 'answer every slot with "yes", "maybe" or "no"')
        return {k: TIME_ANSWERS[v] for k, v in choices.items()}
    if not all(type(v) is int for v in choices.values()):
        raise Invalid("choices", "values are whole numbers")
    values: dict[str, int] = dict(choices)
    if rules.kind == PollKind.score:
        assert rules.score_max is not None
        if set(values) != known or not all(0 <= v <= rules.score_max for v in values.values()):
            raise Invalid("choices", f"score every option from 0 to {rules.score_max}")
        return values
    assert rules.dots is not None
    if any(v < 0 for v in values.values()) or sum(values.values()) > rules.dots:
        raise Invalid("choices", f"place 0 or more dots per option, {rules.dots} at most in all")
    return values


def tally(rules: Rules, stances: Iterable[list[str] | dict[str, int]]) -> dict[str, Any]:
    """The results of these stances: `{voters, options: [{id, …}]}`, options in poll order."""
    ids = rules.option_ids
    fields = {
        PollKind.single: ("count",),
        PollKind.multiple: ("count",),
        PollKind.ranked: ("points",),
        PollKind.score: ("sum",),
        PollKind.dot: ("sum",),
        PollKind.time: ("yes", "maybe"),
    }[rules.kind]
    totals = {i: dict.fromkeys(fields, 0) for i in ids}
    voters = 0
    for stance in stances:
        voters += 1
        if rules.kind in (PollKind.single, PollKind.multiple):
            for option in stance:
                totals[option]["count"] += 1
        elif rules.kind == PollKind.ranked:
            for place, option in enumerate(stance):
                totals[option]["points"] += len(ids) - place
        elif rules.kind == PollKind.time:
            assert isinstance(stance, dict)
            for option, answer in stance.items():
                if answer == TIME_ANSWERS["yes"]:
                    totals[option]["yes"] += 1
                elif answer == TIME_ANSWERS["maybe"]:
                    totals[option]["maybe"] += 1
        else:
            assert isinstance(stance, dict)
            for option, value in stance.items():
                totals[option]["sum"] += value
    options: list[dict[str, Any]] = [{"id": i, **totals[i]} for i in ids]
    if rules.kind == PollKind.score:
        for row in options:
            row["mean"] = round(row["sum"] / voters, 3) if voters else None
    return {"voters": voters, "options": options}


def best_slot(results: dict[str, Any]) -> str | None:
    """The time poll's winning slot: most "yes", then most "maybe", then the earliest listed;
    None when nobody answered yes or maybe anywhere."""
    ranked = sorted(
        enumerate(results["options"]), key=lambda p: (-p[1]["yes"], -p[1]["maybe"], p[0])
    )
    if not ranked:
        return None
    _, top = ranked[0]
    return str(top["id"]) if top["yes"] or top["maybe"] else None
