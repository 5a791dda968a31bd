"""deploy/: the files stay in step with the code, and every validator accepts them.

Fast tests (always): the deployment configs validate and watch the same pipelines as
hopwatch.yaml; the kustomization's ConfigMap and the Deployment's volume items list every file
of the included directories; the generated rule files equal a fresh export.

Slow tests (``-m slow``): each validator of ``deploy/validators.py`` runs and passes. A tool that
is not installed skips its test with the reason (``deploy/validate.sh`` installs them all); a
tool that runs and complains fails.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from monitor.slo.load import load_slos
from monitor.slo.rules import write_rules
from monitor.validate import check_config, load_config

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
INCLUDED = ("slo_definitions", "checks", "alert_rules")
TOKENS = ("HOPWATCH_ADMIN_TOKEN", "HOPWATCH_PUSH_TOKEN", "HOPWATCH_AGENT_TOKEN")

spec = importlib.util.spec_from_file_location("deploy_validators", DEPLOY / "validators.py")
assert spec is not None and spec.loader is not None
validators = importlib.util.module_from_spec(spec)
spec.loader.exec_module(validators)


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TOKENS:
        monkeypatch.setenv(name, f"test-{name.lower()}")


def _pipelines(path: Path) -> object:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["pipelines"]


@pytest.mark.parametrize("name", ["hopwatch.yaml", "agent.yaml"])
def test_deploy_configs_validate_and_watch_the_example_pipelines(tokens: None, name: str) -> None:
    config, issues = check_config(DEPLOY / "config" / name)
    assert config is not None and not issues, issues
    assert _pipelines(DEPLOY / "config" / name) == _pipelines(ROOT / "hopwatch.yaml")


def test_the_server_config_needs_its_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TOKENS:
        monkeypatch.delenv(name, raising=False)
    _, issues = check_config(DEPLOY / "config" / "hopwatch.yaml")
    assert {name for name in TOKENS if any(name in str(i) for i in issues)} == set(TOKENS)


def test_the_configmap_holds_every_included_file_where_hopwatch_looks() -> None:
    files = {
        f"{d}.{p.name}": f"{d}/{p.name}"
        for d in INCLUDED
        for p in sorted((ROOT / d).iterdir())
        if p.suffix in {".yaml", ".yml"}
    }
    data = validators.generated_configmap()["data"]
    assert set(data) == {"hopwatch.yaml", *files}
    deployment = yaml.safe_load((DEPLOY / "kubernetes" / "deployment.yaml").read_text("utf-8"))
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    items = {i["key"]: i["path"] for i in volumes["config"]["configMap"]["items"]}
    assert items == {"hopwatch.yaml": "hopwatch.yaml", **files}


def test_the_configmap_layout_loads(tokens: None, tmp_path: Path) -> None:
    """Lay the generated ConfigMap out as the volume items do and load it as the pod would."""
    data = validators.generated_configmap()["data"]
    deployment = yaml.safe_load((DEPLOY / "kubernetes" / "deployment.yaml").read_text("utf-8"))
    (config,) = [
        v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "config"
    ]
    for item in config["configMap"]["items"]:
        path = tmp_path / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data[item["key"]], encoding="utf-8")
    loaded, issues = check_config(tmp_path / "hopwatch.yaml")
    assert loaded is not None and not issues, issues


@pytest.mark.parametrize(
    ("out", "fmt"),
    [("kubernetes/rules", "prometheus-operator"), ("compose/prometheus/rules", "prometheus")],
)
def test_the_generated_rules_are_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str, fmt: str
) -> None:
    monkeypatch.chdir(ROOT)  # the files name their SLO file as the export from the root does
    fresh = write_rules(load_slos(load_config("hopwatch.yaml")), tmp_path, fmt)
    committed = sorted((DEPLOY / out).iterdir())
    assert [p.name for p in committed] == sorted(p.name for p in fresh)
    for path in fresh:
        assert (DEPLOY / out / path.name).read_text("utf-8") == path.read_text("utf-8"), (
            f"deploy/{out} is stale: hopwatch export prometheus-rules --format {fmt} "
            f"--out deploy/{out}"
        )


def test_the_compose_routing_forwards_to_alertmanager(tokens: None, tmp_path: Path) -> None:
    """The compose config: the image's config with alert_rules/ replaced by the forward routing."""
    shutil.copy(DEPLOY / "config" / "hopwatch.yaml", tmp_path / "hopwatch.yaml")
    for d in ("slo_definitions", "checks"):
        shutil.copytree(ROOT / d, tmp_path / d)
    shutil.copytree(DEPLOY / "compose" / "alert_rules", tmp_path / "alert_rules")
    loaded, issues = check_config(tmp_path / "hopwatch.yaml")
    assert loaded is not None and not issues, issues
    routing = yaml.safe_load((tmp_path / "alert_rules" / "routing.yaml").read_text("utf-8"))
    assert routing["extensions"]["delivery"] == "forward"


# --- the validators -----------------------------------------------------------------------------

VALIDATE = DEPLOY / "validate.sh"
CANNOT_INSTALL = 3  # deploy/validate.sh's exit status when a validator cannot be installed


@pytest.mark.slow
@pytest.mark.parametrize("name", list(validators.CHECKS))
def test_validator_passes(name: str) -> None:
    """``deploy/validate.sh NAME``: installs the validator if needed (first run: minutes, for
    checkov), then runs it. Skips only when the install itself fails, saying why."""
    proc = subprocess.run(
        ["bash", str(VALIDATE), name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    out = proc.stdout + proc.stderr
    if proc.returncode == CANNOT_INSTALL:
        pytest.skip(f"{name} could not be installed: {out.strip().splitlines()[-1]}")
    assert proc.returncode == 0, out
