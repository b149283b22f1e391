"""Lines of code per app and of tooling, in git checkouts side by side (docs/CODEBASE.md).

    .venv/bin/python scripts/codebase_lines.py BEFORE_CHECKOUT AFTER_CHECKOUT

Counts the files git tracks. Product: each app's .py files outside tests/ and migrations/;
its tests/ separately. Tooling: every text file under loadtests/, benchmarks/, scripts/,
testing/ and deploy/ (the .py share in brackets). Prints a Markdown table.
"""

import subprocess
import sys
from pathlib import Path

APPS = (
    *("accounts", "registry", "classifier", "feedback", "quality", "training"),
    *("mlworker", "ops", "monitoring", "config"),
)
TOOLING = ("loadtests", "benchmarks", "scripts", "testing", "deploy")


def text_lines(path: Path) -> int:
    data = path.read_bytes() if path.is_file() else b""
    return 0 if b"\0" in data else data.count(b"\n")


def count(checkout: Path) -> dict[str, tuple[int, int]]:
    """Name → (lines, second figure): product rows give (code, tests), tooling (all, .py)."""
    names = subprocess.check_output(["git", "-C", str(checkout), "ls-files"], text=True)
    rows = {name: [0, 0] for name in (*APPS, "templates + static", *TOOLING)}
    for name in names.splitlines():
        parts = name.split("/")
        lines = text_lines(checkout / name)
        if parts[0] in APPS and name.endswith(".py") and "migrations" not in parts:
            rows[parts[0]]["tests" in parts] += lines
        elif parts[0] in ("templates", "static"):
            rows["templates + static"][0] += lines
        elif parts[0] in TOOLING:
            rows[parts[0]][0] += lines
            rows[parts[0]][1] += lines if name.endswith(".py") else 0
    return {name: (row[0], row[1]) for name, row in rows.items()}


def cell(figures: tuple[int, int]) -> str:
    return f"{figures[0]:,} ({figures[1]:,})"


def main(before: str, after: str) -> None:
    old, new = count(Path(before)), count(Path(after))
    print("| | before: code (tests) | after: code (tests) |")
    print("| --- | ---: | ---: |")
    for name in (*APPS, "templates + static"):
        print(f"| `{name}` | {cell(old[name])} | {cell(new[name])} |")
    totals = [sum(rows[n][i] for n in APPS) for rows in (old, new) for i in (0, 1)]
    print(f"| **apps** | {totals[0]:,} ({totals[1]:,}) | {totals[2]:,} ({totals[3]:,}) |")
    print()
    print("| tooling | before: lines (.py) | after: lines (.py) |")
    print("| --- | ---: | ---: |")
    for name in TOOLING:
        print(f"| `{name}/` | {cell(old[name])} | {cell(new[name])} |")
    totals = [sum(rows[n][i] for n in TOOLING) for rows in (old, new) for i in (0, 1)]
    print(f"| **tooling** | {totals[0]:,} ({totals[1]:,}) | {totals[2]:,} ({totals[3]:,}) |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
