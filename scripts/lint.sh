#!/usr/bin/env bash
# Static checks, run before the tests (by .ci/run, and by hand before a commit):
# ruff (lint and format), the import contracts (import-linter), mypy over the typed modules,
# and the Spanish catalogues' completeness (scripts/check_translations.py).
#   scripts/lint.sh
# The catalogue check needs GNU gettext (apt-get install gettext).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-dev.txt
step() { echo "lint: $*"; "$@"; }
step .venv/bin/ruff check .
step .venv/bin/ruff format --check .
step .venv/bin/lint-imports --no-cache
# The django-stubs plugin loads the settings; DEBUG=1 lets them start without a secret key.
DEBUG=1 step .venv/bin/mypy
step .venv/bin/python scripts/check_translations.py
