#!/usr/bin/env bash
# Installs everything, then runs lint and the whole test suite (slow end-to-end tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -q "$@"
