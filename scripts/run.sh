#!/usr/bin/env bash
# Quick start: set up everything and run web + model worker + Redis on this machine.
# Ctrl-C stops it all. Every setting can be overridden from the environment (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements.txt
mkdir -p .run
if [ -z "${SECRET_KEY:-}" ]; then
  [ -f .secret_key ] || .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(50))" > .secret_key
  SECRET_KEY=$(cat .secret_key)
fi
export SECRET_KEY DEBUG="${DEBUG:-0}" HTTPS="${HTTPS:-0}"
export ALLOWED_HOSTS="${ALLOWED_HOSTS:-localhost,127.0.0.1,[::1],0.0.0.0}"
export ADMIN_EMAIL="${ADMIN_EMAIL:-admin@example.com}" ADMIN_PASSWORD="${ADMIN_PASSWORD:-admin}"
manage() { .venv/bin/python manage.py "$@"; }
manage migrate --noinput -v 0
manage collectstatic --noinput -v 0
manage ensure_superuser
if [ -z "${CLASSIFIER_MODEL:-}" ]; then
  CLASSIFIER_MODEL=$(manage pick_model)
fi
export CLASSIFIER_MODEL
exec .venv/bin/python manage.py run_stack "$@"
