"""Fail when a Spanish catalogue is incomplete or its compiled .mo is stale.

Two checks, run by scripts/lint.sh:
- every entry of every committed django.po is translated and not fuzzy, and the committed .mo
  holds exactly what msgfmt makes of the .po;
- makemessages, run on a copy of the checkout (scripts/translations.sh), finds no wrapped
  string that is missing from the catalogues or changed since it was translated.
Needs GNU gettext (msgattrib, msgfmt, xgettext).
"""

from __future__ import annotations

import gettext
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def spanish_catalogues(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.glob("**/locale/es/LC_MESSAGES/django.po")
        if ".venv" not in path.relative_to(root).parts
    )


def gettext_tool(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def unfinished_entries(po: Path) -> str:
    """Untranslated entries, and fuzzy ones (makemessages' guesses from a similar old string)."""
    untranslated = gettext_tool("msgattrib", "--untranslated", "--no-obsolete", str(po))
    fuzzy = gettext_tool("msgattrib", "--only-fuzzy", "--no-obsolete", str(po))
    return (untranslated + fuzzy).strip()


def compiled_catalog(mo_path: Path) -> dict:
    """The translations in a .mo file, without its header (dates change on every update)."""
    with mo_path.open("rb") as handle:
        catalog = dict(gettext.GNUTranslations(handle)._catalog)  # type: ignore[attr-defined]
    catalog.pop("", None)
    return catalog


def committed_catalogue_problems(scratch: Path) -> list[str]:
    problems = []
    catalogues = spanish_catalogues(ROOT)
    if ROOT / "locale/es/LC_MESSAGES/django.po" not in catalogues:
        problems.append("locale/es/LC_MESSAGES/django.po is missing")
    for po in catalogues:
        name = po.relative_to(ROOT)
        if unfinished := unfinished_entries(po):
            problems.append(f"untranslated or fuzzy entries in {name}:\n{unfinished[:3000]}")
        fresh = scratch / "fresh.mo"
        gettext_tool("msgfmt", "--check", "-o", str(fresh), str(po))
        committed = po.with_suffix(".mo")
        if not committed.exists():
            problems.append(f"{committed.relative_to(ROOT)} is missing")
        elif compiled_catalog(committed) != compiled_catalog(fresh):
            problems.append(f"{committed.relative_to(ROOT)} is older than its .po")
    return problems


def copy_of_checkout(target: Path) -> Path:
    """The tracked files as they are in the working tree, with the project's .venv."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        source = ROOT / name.decode()
        if source.is_file():
            destination = target / name.decode()
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


def wrapped_string_problems(scratch: Path) -> list[str]:
    copy = copy_of_checkout(scratch / "checkout")
    run = subprocess.run(
        ["bash", "scripts/translations.sh"], cwd=copy, capture_output=True, text=True, timeout=300
    )
    if run.returncode != 0:
        return [f"scripts/translations.sh failed:\n{run.stderr[-2000:]}"]
    return [
        f"new or changed strings without a Spanish translation in {po.relative_to(copy)}:\n"
        f"{unfinished[:3000]}"
        for po in spanish_catalogues(copy)
        if (unfinished := unfinished_entries(po))
    ]


def main() -> int:
    missing = [tool for tool in ("msgattrib", "msgfmt", "xgettext") if not shutil.which(tool)]
    if missing:
        print(f"check_translations: GNU gettext is needed ({', '.join(missing)} not found)")
        return 1
    with tempfile.TemporaryDirectory(prefix="check-translations-") as scratch:
        problems = committed_catalogue_problems(Path(scratch))
        problems += wrapped_string_problems(Path(scratch))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("Run scripts/translations.sh, translate the entries, commit .po and .mo.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
