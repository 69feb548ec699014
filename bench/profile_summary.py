"""Where a server's CPU goes: a summary of py-spy's collapsed stacks (`bench.api --profile`).

    .venv/bin/python -m bench.profile_summary PROFILE.txt [--top 25] [--match TEXT]

Prints, per package (sqlalchemy, fastapi, starlette, pydantic, uvicorn, asyncpg, redis, our
`app`, …), the share of samples whose innermost frame is in it ("self": that package's own
code) and the share whose stack passes through it ("total"), then the functions with the
most self time. Idle samples (the event loop waiting) are left out of the shares.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
IDLE = ("select (selectors.py", "run_forever", "_run_once (asyncio/base_events.py")


def package_of(path: str) -> str:
    """A short package name for a frame's file."""
    if "site-packages/" in path:
        rest = path.split("site-packages/", 1)[1]
        return rest.split("/", 1)[0].removesuffix(".py")
    for ours in ("app/", "workers/", "bench/"):
        if path.startswith(ours) or f"/{ours}" in path:
            return ours.rstrip("/") + "/" + path.split(ours, 1)[1].split("/", 1)[0]
    if "python3" in path or path.startswith("<"):
        return "stdlib:" + path.rsplit("/", 1)[-1].removesuffix(".py")
    return path


def library_of(package: str) -> str:
    """`sqlalchemy/orm/session.py` → `sqlalchemy`; our `app/roadmap` → `app`."""
    if package.startswith("stdlib:asyncio") or package.startswith("asyncio"):
        return "asyncio (event loop)"
    if package.startswith("stdlib:"):
        return "stdlib"
    return package.split("/", 1)[0]


def parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for raw in stack.split(";"):
            m = FRAME.match(raw.strip())
            if m:
                frames.append((m["func"], m["file"]))
        stacks.append((frames, int(count)))
    return stacks


def summarize(path: Path, top: int, match: str | None) -> None:
    stacks = parse(path)
    busy = [(f, n) for f, n in stacks if f and not _idle(f)]
    if match:
        busy = [(f, n) for f, n in busy if any(match in fn or match in fl for fn, fl in f)]
    total = sum(n for _, n in busy) or 1
    idle = sum(n for f, n in stacks) - sum(n for f, n in busy)
    self_pkg: Counter[str] = Counter()
    incl_pkg: Counter[str] = Counter()
    self_fn: Counter[str] = Counter()
    for frames, n in busy:
        func, file = frames[-1]
        self_pkg[package_of(file)] += n
        self_fn[f"{func} ({file.rsplit('site-packages/', 1)[-1]})"] += n
        for pkg in {package_of(fl) for _, fl in frames}:
            incl_pkg[pkg] += n
    print(f"{path.name}: {total} busy samples, {idle} idle")
    by_library: Counter[str] = Counter()
    for pkg, n in self_pkg.items():
        by_library[library_of(pkg)] += n
    print(
        "self time by library: "
        + ", ".join(f"{lib} {100 * n / total:.1f}%" for lib, n in by_library.most_common(12))
    )
    print(f"{'package':40} {'self %':>7} {'total %':>8}")
    for pkg, n in incl_pkg.most_common(top):
        print(f"{pkg:40} {100 * self_pkg[pkg] / total:7.1f} {100 * n / total:8.1f}")
    print(f"\n{'function (self)':90} {'%':>6}")
    for fn, n in self_fn.most_common(top):
        print(f"{fn[:90]:90} {100 * n / total:6.1f}")


def _idle(frames: list[tuple[str, str]]) -> bool:
    func, file = frames[-1]
    return any(marker in f"{func} ({file}" for marker in IDLE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", help="only stacks with a frame containing this text")
    args = parser.parse_args()
    for f in args.files:
        summarize(f, args.top, args.match)
        print()


if __name__ == "__main__":
    main()
