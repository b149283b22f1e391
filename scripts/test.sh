#!/usr/bin/env bash
# Run the test suite. Uses DATABASE_URL / REDIS_URL when set (CI points them at PostgreSQL
# and Redis); otherwise a SQLite file and the local Redis, or an embedded one if none runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-dev.txt
exec .venv/bin/python -m pytest "$@"
