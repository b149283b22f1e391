"""mypy (with django-stubs) is clean on the services, selectors and the worker.

The modules are listed in pyproject.toml's [tool.mypy] `files`.
"""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings


def test_mypy_is_clean_on_the_typed_modules():
    mypy = Path(sys.executable).with_name("mypy")
    result = subprocess.run(
        [str(mypy)],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DEBUG": "1"},  # the django-stubs plugin loads the settings
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
