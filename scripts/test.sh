#!/usr/bin/env bash
# Installs everything, then runs lint, the type check and the whole test suite (slow end-to-end tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # config in pyproject.toml: the judging core strict, the rest checked
if [ $# -gt 0 ]; then
  exec .venv/bin/python -m pytest -q "$@"
fi
# The slow end-to-end tests mostly wait on real processes and clocks (buckets closing, Kafka group
# sessions, a PostgreSQL takeover), so they run beside the CPU-bound fast tests; their output
# follows the fast tests'.
slow_log=$(mktemp)
.venv/bin/python -m pytest -q -m slow -p no:cacheprovider >"$slow_log" 2>&1 &
slow_pid=$!
fast_rc=0
.venv/bin/python -m pytest -q -m "not slow" || fast_rc=$?
slow_rc=0
wait "$slow_pid" || slow_rc=$?
echo "--- slow end-to-end tests (pytest -m slow)"
cat "$slow_log"
rm -f "$slow_log"
[ "$fast_rc" = 0 ] && [ "$slow_rc" = 0 ]
