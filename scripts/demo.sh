#!/usr/bin/env bash
# Installs hopwatch and starts the demo: the daemon on the example pipeline with the simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/hopwatch demo "$@"
