#!/usr/bin/env bash
# Installs everything, then runs lint, the type check and the whole test suite (slow end-to-end tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # config in pyproject.toml: the judging core strict, the rest checked
.venv/bin/python -m pytest -q "$@"
