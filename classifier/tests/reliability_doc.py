"""Keeps docs/RELIABILITY.md in step with the test matrices that prove it.

Each matrix test module renders its cases as a table section of the document and asserts
the document holds exactly that section. `UPDATE_RELIABILITY_DOC=1 pytest ...` rewrites
the sections instead, so a changed matrix is one command away from a changed document.
Every row's "Result" is what the matrix asserts, so the document is true whenever the
suite passes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "RELIABILITY.md"
HEADER = ("Case", "What is tried", "Result")


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render(rows: Iterable[tuple[str, str, str]]) -> str:
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
    ]
    for case, what, result in rows:
        lines.append(f"| `{_cell(case)}` | {_cell(what)} | {_cell(result)} |")
    return "\n".join(lines)


def _markers(section: str) -> tuple[str, str]:
    return f"<!-- cases:{section}:start -->", f"<!-- cases:{section}:end -->"


def documented_section(section: str) -> str | None:
    start, end = _markers(section)
    match = re.search(re.escape(start) + r"\n(.*?)" + re.escape(end), DOC.read_text(), re.S)
    return match.group(1).rstrip("\n") if match else None


def check_section(section: str, rows: Iterable[tuple[str, str, str]]) -> None:
    """Assert docs/RELIABILITY.md lists exactly these cases (or rewrite it when asked)."""
    rows = list(rows)
    ids = [case for case, _, _ in rows]
    duplicates = {case for case in ids if ids.count(case) > 1}
    assert not duplicates, f"case ids must be unique: {sorted(duplicates)}"
    table = render(rows)
    if os.environ.get("UPDATE_RELIABILITY_DOC") == "1":
        start, end = _markers(section)
        text = DOC.read_text()
        block = f"{start}\n{table}\n{end}"
        pattern = re.escape(start) + r"\n.*?" + re.escape(end)
        if re.search(pattern, text, re.S):
            text = re.sub(pattern, lambda _: block, text, flags=re.S)
        else:
            text = text.rstrip("\n") + f"\n\n{block}\n"
        DOC.write_text(text)
        return
    documented = documented_section(section)
    assert documented is not None, (
        f"docs/RELIABILITY.md has no '{section}' table; "
        "run the tests with UPDATE_RELIABILITY_DOC=1 to write it"
    )
    assert documented == table, (
        f"docs/RELIABILITY.md's '{section}' table is out of date with the tests; "
        "run them with UPDATE_RELIABILITY_DOC=1 and commit the document"
    )
