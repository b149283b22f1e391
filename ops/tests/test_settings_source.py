"""Settings come from the environment in config/settings.py only, and docs/CONFIGURATION.md
lists exactly the variables it reads."""

import ast
import re
from pathlib import Path

from django.conf import settings

APPS = (
    "accounts",
    "classifier",
    "feedback",
    "mlworker",
    "monitoring",
    "ops",
    "quality",
    "registry",
    "training",
)
READS_ENV = re.compile(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[[^\]]+\](?!\s*=)")
# What config/settings.py calls to read a variable: django-environ's `env(...)`, `env.int(...)`
# and the like, and its own `_first_env(...)` (a name and its AWS aliases, first one set wins).
READERS = {"env", "_first_env"}
VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*")
REFERENCE_HEADER = "| variable | default | meaning |"


def test_no_app_module_reads_the_environment():
    offenders = []
    for app in APPS:
        for path in sorted((Path(settings.BASE_DIR) / app).rglob("*.py")):
            if "tests" in path.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if READS_ENV.search(line):
                    offenders.append(f"{path.relative_to(settings.BASE_DIR)}:{number}: {line}")
    assert not offenders, "read it in config/settings.py instead:\n" + "\n".join(offenders)


def _reader_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id
    return func.id if isinstance(func, ast.Name) else ""


def variables_settings_read(source: str) -> set[str]:
    variables = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _reader_name(node) in READERS:
            for argument in node.args:
                value = argument.value if isinstance(argument, ast.Constant) else None
                if isinstance(value, str) and VARIABLE.fullmatch(value):
                    variables.add(value)
    return variables


def variables_documented(markdown: str) -> set[str]:
    """The variables named in the first cell of each row of the reference tables."""
    variables, in_table = set(), False
    for line in markdown.splitlines():
        if line.strip() == REFERENCE_HEADER:
            in_table = True
        elif in_table and line.startswith("|"):
            first_cell = line.split("|")[1]
            variables.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cell))
        else:
            in_table = False
    return variables


def test_the_configuration_reference_lists_exactly_what_settings_read():
    base = Path(settings.BASE_DIR)
    read = variables_settings_read((base / "config" / "settings.py").read_text())
    documented = variables_documented((base / "docs" / "CONFIGURATION.md").read_text())
    assert len(read) > 50, f"the settings parser found too few variables: {sorted(read)}"
    missing, extra = sorted(read - documented), sorted(documented - read)
    assert not missing, f"docs/CONFIGURATION.md has no row for: {missing}"
    assert not extra, f"docs/CONFIGURATION.md has rows config/settings.py no longer reads: {extra}"


def test_the_reference_parser_sees_a_row_and_ignores_other_tables():
    markdown = "\n".join(
        [
            REFERENCE_HEADER,
            "| --- | --- | --- |",
            "| `ONE`, `TWO` | `1` | uses `NOT_A_ROW` in its meaning |",
            "",
            "| host | workers |",
            "| `ELSEWHERE` | 2 |",
        ]
    )
    assert variables_documented(markdown) == {"ONE", "TWO"}
    source = 'A = env.int("ONE", default=1)\nB = _first_env("TWO", "ALIAS")\nC = other("NO")\n'
    assert variables_settings_read(source) == {"ONE", "TWO", "ALIAS"}
