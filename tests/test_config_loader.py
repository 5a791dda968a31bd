"""Loading the main config into the runtime model, and the pieces the loader is built from."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from monitor.config import (
    ConfigError,
    ConfigIssue,
    load_config,
    load_document,
    validate_data,
)
from monitor.config.auth import AuthPolicy
from monitor.config.model import ExpectKind
from monitor.config.spec import DocumentSpec
from monitor.config.yamlpos import Positions, load_yaml_text
from monitor.records import Observation
from monitor.validate import validate_command

REPO = Path(__file__).resolve().parent.parent

MINIMAL = """\
apiVersion: hopwatch/v1
pipelines:
  - name: signup
    attributes: [consent]
    hops: [{name: sdk}, {name: ingest}]
    edges:
      - from: sdk
        to: ingest
        where: attributes.consent == "granted"
        expect: {ratio: 0.98, tolerance: 0.01}
"""


def _write(tmp_path: Path, text: str, name: str = "hopwatch.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_config_validates_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    out = io.StringIO()
    assert validate_command([], out) == 0
    assert (
        out.getvalue()
        == "hopwatch.yaml: ok — 2 pipelines, 11 hops, 10 edges, 5 included files, 8 SLOs, 7 checks, 5 routes, 3 receivers\n"
    )


def test_the_example_config_loads_into_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    config = load_config("hopwatch.yaml")
    assert (config.server.host, config.server.port) == ("127.0.0.1", 9464)
    assert config.server.max_body_bytes == 10 * 1024 * 1024
    assert config.server.auth == AuthPolicy()  # no token: writes are refused (401)
    assert config.storage.data_dir == Path("data")
    assert config.storage.retention == 35 * 86400
    signup = config.pipeline("signup")
    assert signup is not None
    assert signup.hop_names == (
        "sdk",
        "ingest",
        "broker",
        "identity",
        "activation",
        "crm",
        "warehouse",
    )
    assert signup.bucket_seconds == 60 and signup.allowed_lateness == 300
    assert "consent" in signup.attributes
    assert [e.name for e in signup.edges_from("identity")] == [
        "identity->activation",
        "identity-/->activation",
        "identity->crm",
    ]


def test_defaults_apply_and_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, MINIMAL, "conf/hopwatch.yaml"))
    assert config.storage.data_dir == tmp_path / "conf" / "data"
    assert config.server.listen == "127.0.0.1:9464"
    (pipeline,) = config.pipelines
    assert (pipeline.id_sampling, pipeline.max_attribute_sets, pipeline.max_pending_ids) == (
        1.0,
        1000,
        1_000_000,
    )
    (edge,) = pipeline.edges
    assert (edge.expect.kind, edge.expect.ratio, edge.expect.tolerance) == (
        ExpectKind.RATIO,
        0.98,
        0.01,
    )
    obs = Observation("signup", "sdk", "t", 0.0, 0.0, attributes=(("consent", "granted"),))
    assert edge.where(obs)


def test_a_bearer_token_comes_from_the_environment_and_is_never_shown(tmp_path: Path) -> None:
    text = "apiVersion: hopwatch/v1\nserver:\n  auth:\n    bearer_token_env: HW_TOKEN\n"
    config = load_config(_write(tmp_path, text), environ={"HW_TOKEN": "s3cret\n"})
    assert config.server.auth == AuthPolicy.single_token("s3cret")
    assert "s3cret" not in repr(config)


def test_a_bearer_token_comes_from_a_file_next_to_the_config(tmp_path: Path) -> None:
    _write(tmp_path, "from-file\n", "token")
    text = "apiVersion: hopwatch/v1\nserver:\n  auth:\n    bearer_token_file: token\n"
    assert load_config(_write(tmp_path, text)).server.auth == AuthPolicy.single_token("from-file")


def test_an_empty_token_is_an_error_that_does_not_print_it(tmp_path: Path) -> None:
    text = "apiVersion: hopwatch/v1\nserver:\n  auth:\n    bearer_token_env: HW_TOKEN\n"
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text), environ={"HW_TOKEN": "  "})
    assert str(info.value).endswith(
        "server.auth.bearer_token_env: environment variable HW_TOKEN is empty"
    )


def test_config_error_carries_every_issue_sorted(tmp_path: Path) -> None:
    text = MINIMAL.replace("to: ingest", "to: nowhere").replace("name: signup", "name: Signup")
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [(i.line, i.path) for i in info.value.issues] == [
        (3, "pipelines[0].name"),
        (8, "pipelines[0].edges[0].to"),
    ]
    assert str(info.value) == "\n".join(str(i) for i in info.value.issues)


ISSUES = [
    (
        "an error with a hint",
        ConfigIssue("a.yaml", 3, 5, "pipelines[0].bucket", "bad", "fix it"),
        "a.yaml:3:5: pipelines[0].bucket: bad (fix it)",
    ),
    (
        "an error without a hint",
        ConfigIssue("a.yaml", 3, 5, "server", "bad"),
        "a.yaml:3:5: server: bad",
    ),
    (
        "a problem with the whole file has no key path",
        ConfigIssue("a.yaml", 1, 1, "", "YAML syntax error: x"),
        "a.yaml:1:1: YAML syntax error: x",
    ),
    (
        "a warning says so",
        ConfigIssue("a.yaml", 2, 1, "include", "odd", severity="warning"),
        "a.yaml:2:1: include: warning: odd",
    ),
]


@pytest.mark.parametrize(("issue", "text"), [c[1:] for c in ISSUES], ids=[c[0] for c in ISSUES])
def test_issue_text(issue: ConfigIssue, text: str) -> None:
    assert str(issue) == text


def test_yaml_positions_are_one_based_per_key_and_item() -> None:
    doc = load_yaml_text("a:\n  b: [1, 2]\n  'c': \"x\"\n", "f.yaml")
    assert doc.data == {"a": {"b": [1, 2], "c": "x"}}
    assert doc.positions.keys[("a",)] == (1, 1)
    assert doc.positions.keys[("a", "b")] == (2, 3)
    assert doc.positions.keys[("a", "b", 1)] == (2, 10)
    scalar = doc.positions.value_of(("a", "c"))
    assert scalar is not None and scalar.column_of(0) == (3, 9)
    assert doc.positions.of(("a", "missing", 3)) == (1, 1)


def test_yaml_keys_stay_as_written() -> None:
    assert load_yaml_text("on: 1\n", "f.yaml").data == {"on": 1}


class _GreetingSpec(DocumentSpec):
    greeting: str


def test_load_document_validates_any_kind_of_file(tmp_path: Path) -> None:
    good = _write(tmp_path, "apiVersion: hopwatch/v1\nkind: Greeting\ngreeting: hi\n", "g.yaml")
    spec, issues = load_document(good, _GreetingSpec)
    assert issues == [] and spec is not None and spec.greeting == "hi"
    bad = _write(tmp_path, "apiVersion: hopwatch/v1\nkind: Greeting\ngreting: hi\n", "b.yaml")
    spec, issues = load_document(bad, _GreetingSpec)
    assert spec is None
    assert [str(i) for i in issues] == [
        f"{bad}:1:1: greeting: missing required key",
        f"{bad}:3:1: greting: unknown key 'greting' (did you mean 'greeting'?)",
    ]


def test_included_files_run_their_kinds_validator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Path] = []

    def checks_validator(path: Path, data: Any, positions: Positions) -> list[ConfigIssue]:
        seen.append(path)
        _spec, issues = validate_data(path, data, positions, _GreetingSpec)
        return issues

    _write(tmp_path, "apiVersion: hopwatch/v1\nkind: Checks\ngreeting: hi\n", "checks/b.yml")
    _write(tmp_path, "apiVersion: hopwatch/v1\nkind: Checks\ngreeting: yo\n", "checks/a.yaml")
    _write(tmp_path, "ignored", "checks/notes.txt")
    config = load_config(
        _write(tmp_path, MINIMAL + "include: [checks/]\n"), kinds={"Checks": checks_validator}
    )
    assert config.includes == (tmp_path / "checks/a.yaml", tmp_path / "checks/b.yml")
    assert seen == list(config.includes)


MINIMAL_ROUTING = (
    "apiVersion: hopwatch/v1\nkind: Routing\n"
    "alertmanager: {route: {receiver: log}, receivers: [{name: log}]}\n"
)


def test_a_standalone_included_file_is_validated_by_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, MINIMAL_ROUTING, "checks.yaml")
    out = io.StringIO()
    assert validate_command(["checks.yaml"], out) == 0
    assert out.getvalue() == "checks.yaml: ok — Routing, 1 route, 1 receiver\n"


def test_validate_reports_every_path_and_fails_on_any_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, MINIMAL, "good.yaml")
    _write(tmp_path, "apiVersion: hopwatch/v1\nstorage: {retention: 0s}\n", "bad.yaml")
    out = io.StringIO()
    assert validate_command(["good.yaml", "bad.yaml", "missing.yaml"], out) == 1
    assert out.getvalue().splitlines() == [
        "bad.yaml:2:11: storage.retention: '0s' must be longer than zero",
        "missing.yaml:1:1: cannot read file: No such file or directory",
    ]


def test_a_directory_stands_for_its_yaml_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, MINIMAL_ROUTING, "rules/b.yaml")
    _write(tmp_path, MINIMAL_ROUTING, "rules/a.yml")
    out = io.StringIO()
    assert validate_command(["rules"], out) == 0
    assert out.getvalue().splitlines() == [
        "rules/a.yml: ok — Routing, 1 route, 1 receiver",
        "rules/b.yaml: ok — Routing, 1 route, 1 receiver",
    ]


def test_a_directory_without_yaml_files_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "not config", "emptydir/notes.txt")
    _write(tmp_path, MINIMAL_ROUTING, "rules/a.yaml")
    out = io.StringIO()
    assert validate_command(["emptydir/", "rules"], out) == 1
    assert out.getvalue() == "emptydir: no YAML files (*.yaml, *.yml) here\n"


def test_yaml_aliases_within_the_limits_still_work() -> None:
    doc = load_yaml_text("a: &x [1, {b: 2}]\nc: *x\nd: [*x, *x]\n", "f.yaml")
    assert doc.issues == () and doc.readable
    assert doc.data == {"a": [1, {"b": 2}], "c": [1, {"b": 2}], "d": [[1, {"b": 2}]] * 2}


def test_every_known_kind_has_its_validator_wired() -> None:
    from monitor.config import KNOWN_KINDS
    from monitor.validate import KINDS

    assert sorted(KINDS) == sorted(KNOWN_KINDS)
