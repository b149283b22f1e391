#!/usr/bin/env bash
# Quick start: set up everything and run web + model worker + PostgreSQL + Redis on this
# machine (the database and Redis embedded unless DATABASE_URL / REDIS_URL are set; the
# embedded database keeps its data in .run/postgres/). Ctrl-C stops it all.
# Every setting can be overridden from the environment (docs/CONFIGURATION.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements.txt
mkdir -p .run
random_secret() { .venv/bin/python -c "import secrets; print(secrets.token_urlsafe($1))"; }
# Secrets made here are kept in files only this user can read (0600), never printed.
if [ -z "${SECRET_KEY:-}" ]; then
  [ -s .secret_key ] || (umask 077; random_secret 50 > .secret_key)
  SECRET_KEY=$(cat .secret_key)
fi
if [ -z "${ADMIN_PASSWORD:-}" ]; then
  [ -s .admin_password ] || (umask 077; random_secret 18 > .admin_password)
  ADMIN_PASSWORD=$(cat .admin_password)
  export ADMIN_PASSWORD_FILE="$PWD/.admin_password"
fi
export SECRET_KEY DEBUG="${DEBUG:-0}" HTTPS="${HTTPS:-0}"
export ALLOWED_HOSTS="${ALLOWED_HOSTS:-localhost,127.0.0.1,[::1],0.0.0.0}"
export ADMIN_EMAIL="${ADMIN_EMAIL:-admin@example.com}" ADMIN_PASSWORD
manage() { .venv/bin/python manage.py "$@"; }
manage collectstatic --noinput -v 0
if [ -z "${CLASSIFIER_MODEL:-}" ]; then
  CLASSIFIER_MODEL=$(manage pick_model)
fi
export CLASSIFIER_MODEL
# run_stack starts the database, migrates it and makes the operator account, then the rest.
exec .venv/bin/python manage.py run_stack "$@"
