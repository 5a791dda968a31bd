#!/usr/bin/env bash
# Installs hopwatch and starts the demo: the daemon on the example pipeline with the simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
# Only what the demo runs (no apt-get: Prometheus, Alertmanager and PostgreSQL are for the tests),
# with pip's progress shown; skipped when hopwatch is installed already.
if [ ! -x .venv/bin/hopwatch ]; then
  scripts/install.sh --demo
fi
exec .venv/bin/hopwatch demo "$@"
