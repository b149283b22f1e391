#!/usr/bin/env bash
# Run the test suite. Uses DATABASE_URL / REDIS_URL when set (CI points them at PostgreSQL
# and Redis); otherwise an embedded PostgreSQL for the run (config/testenv.py) and the local
# Redis, or an embedded one if none runs.
#   scripts/test.sh [--fast] [pytest arguments]
# --fast: the fast tier, `-m "not slow"`: no server, model-worker, nginx, S3, Prometheus or
# Chromium process (conftest.py marks and checks that), for a quick answer while developing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-dev.txt
arguments=()
for argument in "$@"; do
  if [ "$argument" = "--fast" ]; then arguments+=(-m "not slow"); else arguments+=("$argument"); fi
done
exec .venv/bin/python -m pytest ${arguments[@]+"${arguments[@]}"}
