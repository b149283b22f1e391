#!/usr/bin/env bash
# Write an env file for docker compose from .env.example, every secret a new random value.
#   scripts/make-env.sh            → ./.env
#   scripts/make-env.sh PATH       → PATH (CI uses a temporary file)
# The file is readable by its owner only (0600) and an existing one is never overwritten.
# The secrets are not printed: read ADMIN_PASSWORD from the file when you need it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${1:-$repo/.env}
if [ -e "$target" ]; then
  echo "make-env: $target exists; remove it first to make new secrets" >&2
  exit 1
fi
secret() { python3 -c "import secrets; print(secrets.token_urlsafe(32))"; }
(
  umask 077
  while IFS= read -r line; do
    case "$line" in
      SECRET_KEY= | POSTGRES_PASSWORD= | S3_SECRET_ACCESS_KEY= | ADMIN_PASSWORD= | METRICS_TOKEN=)
        echo "${line}$(secret)" ;;
      *) echo "$line" ;;
    esac
  done < "$repo/.env.example" > "$target"
)
echo "make-env: wrote $target (0600); the admin password is its ADMIN_PASSWORD line"
