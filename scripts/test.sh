#!/usr/bin/env bash
# Run the test suite. Uses DATABASE_URL / REDIS_URL when set (CI points them at PostgreSQL
# and Redis); otherwise an embedded PostgreSQL for the run (config/testenv.py) and the local
# Redis, or an embedded one if none runs.
#   scripts/test.sh [--fast] [pytest arguments]
# --fast: the fast tier, `-m "not slow"`: no server, model-worker, nginx, S3, Prometheus or
# Chromium process (conftest.py marks and checks that), for a quick answer while developing.
# The whole suite (no --fast, no test path named) runs in two processes, one file at a time
# each, the files with slow tests first (pytest-xdist `-n 2 --dist loadfile`; the order is
# conftest.py's): most of the slow tier's time is spent waiting on servers and workers, so
# two processes overlap those waits even on two cores. Each process has its own test
# database and Redis databases (config/testenv.py). `-n 0` runs it in one process; any
# `-n`/`--dist` given, a named test path or --pdb is taken as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-dev.txt
arguments=()
parallel=(-n 2 --dist loadfile --no-loadscope-reorder)
previous=""
for argument in "$@"; do
  if [ "$argument" = "--fast" ]; then
    arguments+=(-m "not slow")
    parallel=()
  else
    arguments+=("$argument")
  fi
  case "$argument" in
    -n | -n* | --numprocesses* | --dist* | --pdb | --trace) parallel=() ;;
    no:xdist) [ "$previous" = "-p" ] && parallel=() ;;
    -*) ;;
    *) [ -e "${argument%%::*}" ] && parallel=() ;;
  esac
  previous=$argument
done
exec .venv/bin/python -m pytest ${parallel[@]+"${parallel[@]}"} ${arguments[@]+"${arguments[@]}"}
