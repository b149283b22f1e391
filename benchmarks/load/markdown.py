"""Figures, Markdown tables and templates for the documents the runs write."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.template import Context, Engine, Library

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

register = Library()


def fmt(value, digits: int = 1, unit: str = "") -> str:
    """A figure for a table or a progress line; "–" when it was not measured."""
    if value is None:
        return "–"
    if isinstance(value, float) and digits == 0:
        return f"{value:,.0f}{unit}"
    return f"{value:,.{digits}f}{unit}" if isinstance(value, float) else f"{value}{unit}"


def table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


@register.filter(name="fmt")
def fmt_filter(value: object, spec: str | int = 1) -> str:
    """`{{ x|fmt:"0 ms" }}` is `fmt(x, 0, " ms")`; a missing value is "–"."""
    digits, _, unit = str(spec).partition(" ")
    return fmt(None if value == "" else value, int(digits), f" {unit}" if unit else "")


@register.filter
def num(value: float, spec: str) -> str:
    """`{{ x|num:".1f" }}` is `format(x, ".1f")`."""
    return format(value, spec)


@cache
def engine(dirs: tuple[Path, ...]) -> Engine:
    """Django's template engine on its own (no settings), with this module's filters."""
    return Engine(dirs=list(dirs), autoescape=False, builtins=[__name__])


def render(template: str, context: dict, dirs: tuple[Path, ...] = (TEMPLATES,)) -> str:
    """A template (of benchmarks/templates/ unless `dirs` say otherwise) filled in, ending in
    one newline; numbers print as Python prints them (no localisation)."""
    context = Context(context, autoescape=False, use_l10n=False)
    return engine(dirs).get_template(template).render(context).rstrip("\n") + "\n"
