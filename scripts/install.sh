#!/usr/bin/env bash
# Installs what hopwatch and its tests need on a fresh Debian machine: the real Prometheus tools
# (promtool, prometheus, amtool, alertmanager) from Debian and a virtualenv with hopwatch and its dev extra.
#   scripts/install.sh --demo   only what `hopwatch demo` runs: the virtualenv with hopwatch, no apt-get
#                               (Prometheus, Alertmanager, PostgreSQL and Chromium are for the tests).
set -euo pipefail
cd "$(dirname "$0")/.."

demo=false
if [ "${1:-}" = "--demo" ]; then
  demo=true
fi

need_apt=()
if ! $demo; then
  command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
  command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)  # the status page's browser test
  if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    else
      echo "install.sh: missing ${need_apt[*]}; run as root or: sudo apt-get install ${need_apt[*]}" >&2
    fi
  fi
  if [ -n "${CI:-}" ] && ! command -v promtool >/dev/null 2>&1; then
    echo "install.sh: promtool is still missing; CI must not skip the promtool tests" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if $demo; then
  # A first install takes minutes: pip's own progress shows, not minutes of silence.
  echo "install.sh: installing hopwatch into .venv (pip's progress follows)" >&2
  .venv/bin/python -m pip install --upgrade pip --progress-bar on
  .venv/bin/python -m pip install -e . --progress-bar on
  exit 0
fi
# pip's build chatter (setuptools notices about editable installs) is kept out of the test
# command's output; on failure the whole log is shown.
log=$(mktemp)
if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e '.[dev]'; } >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  echo "install.sh: pip install failed (log above)" >&2
  exit 1
fi
rm -f "$log"
# pip builds the compiled ingest cores (setup.py) when a C compiler is there; without one the
# install still succeeds and hopwatch runs its Python cores: say which.
echo "install.sh: ingest core: $(.venv/bin/python -c 'from monitor.ledger import core; print(core.NAME)')" >&2
