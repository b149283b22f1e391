#!/usr/bin/env bash
# Create .venv and install the pinned requirements (again only when they change).
# Usage: scripts/bootstrap.sh [requirements.txt|requirements-dev.txt]
set -euo pipefail
cd "$(dirname "$0")/.."
requirements="${1:-requirements.txt}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $($python --version)…"
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(basename "$requirements" .txt)"
digest=$(cat requirements*.txt requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "Installing $requirements (the first time takes a few minutes)…"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r "$requirements"
  echo "$digest" > "$stamp"
fi
