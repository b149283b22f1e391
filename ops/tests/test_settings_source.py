"""Settings come from the environment in config/settings.py only (README's table lists them)."""

import re
from pathlib import Path

from django.conf import settings

APPS = ("accounts", "classifier", "feedback", "mlworker", "ops")
READS_ENV = re.compile(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[[^\]]+\](?!\s*=)")


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


def test_every_setting_read_from_the_environment_has_a_readme_row():
    source = (Path(settings.BASE_DIR) / "config" / "settings.py").read_text()
    variables = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z0-9_]+)"', source))
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    missing = sorted(name for name in variables if f"`{name}`" not in readme)
    assert not missing, f"README configuration table lacks: {missing}"
