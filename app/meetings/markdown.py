"""Escaping user text for the Markdown report: what people typed stays text.

A title like `*Urgent* [click](https://…)` or a name like `# Admin` must not become emphasis,
a link or a heading in the circulated report, and raw HTML must not reach a renderer.
"""

from __future__ import annotations

import re

# Characters that start inline markup anywhere (CommonMark and GitHub's tables/strikethrough).
_INLINE = re.compile(r"([\\`*_\[\]<>|~&!])")
# What only means something at the start of a line: headings, quotes, lists, rules, setext.
_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")


def inline(text: str) -> str:
    """`text` as literal Markdown on one line (newlines become spaces): titles, names, cells."""
    return _escape_line(" ".join(text.split()))


def block(text: str, indent: str = "") -> str:
    """Multi-line `text` as literal Markdown, its lines kept (hard breaks) and indented by
    `indent` so that it stays inside a list item."""
    lines = [_escape_line(line.strip()) for line in text.strip().splitlines()]
    return f"  \n{indent}".join(line for line in lines if line)


def _escape_line(line: str) -> str:
    line = _INLINE.sub(r"\\\1", line)
    return _LINE_START.sub(lambda m: m.group(1) + _escape_marker(m.group(2)), line)


def _escape_marker(marker: str) -> str:
    # "1." → "1\.": a list marker's punctuation is what makes it one.
    return marker[:-1] + "\\" + marker[-1]


def minutes(body: str) -> str:
    """Minutes are Markdown by design and go in as written, but without raw HTML, and their
    headings are pushed below the report's own (## sections) so they cannot break its outline."""
    body = body.replace("<", "&lt;")
    return re.sub(r"^(#{1,4})(?=\s)", r"\1##", body, flags=re.MULTILINE)
