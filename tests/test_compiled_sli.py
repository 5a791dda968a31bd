"""The compiled SLI pass (``monitor/slo/_sli.pyx``) against ``SLIRecorder.observe_python``.

Random streams (the compiled ledger test's observations: late, duplicate, out-of-order sightings,
ids in and out of the sample, missing ids, equal attribute sets as shared and as separate tuples)
go through two recorders of the same SLOs, one on each path, with expiry at random moments. Every
decision (SLO, time, good, bad, in order) and all state either can tell differs is compared:
pending events and their deadline bins, early sightings, decided ids, evidence.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config.where import compile_where
from monitor.ledger.sampling import IdSampler
from monitor.slo import indicators
from monitor.slo.indicators import SLIRecorder
from monitor.slo.model import SLO, LatencyIndicator, RatioIndicator, SampledIndicator
from tests.test_compiled_core import T0, observations

pytestmark = pytest.mark.skipif(
    indicators._compiled is None, reason="the compiled SLI pass is not built"
)


def slo(name: str, indicator: Any, segment_by: str | None = None) -> SLO:
    return SLO(name=name, service="s", target=0.99, indicator=indicator, segment_by=segment_by)


def latency(name: str, a: str, b: str, threshold: float, where: str = "", **kw: Any) -> SLO:
    ind = LatencyIndicator("p", a, b, threshold, compile_where(where))
    return slo(name, ind, **kw)


SLOS = (
    latency("ab", "a", "b", 30.0),
    latency("ab-eu", "a", "b", 5.0, 'attributes.region == "eu"', segment_by="region"),
    latency("ac-ok", "a", "c", 120.0, 'status == "ok" and event_type == "t1"'),
    latency("bd-id", "b", "d", 60.0, 'event_id != "e3"'),  # reads the id: never memoised
    latency("cd-int", "c", "d", 10),  # type: ignore[arg-type]  # an int threshold: Python's path
    slo("d-ok", RatioIndicator("p", "d", good=compile_where('status == "ok"'))),
    slo("b-merges", SampledIndicator("p", "b", compile_where('reason == "consent_denied"'))),
    slo(
        "b-t1",  # memoised by shape, decided between the sampled SLO and the next (order kept)
        RatioIndicator(
            "p", "b", compile_where('event_type == "t1"'), bad=compile_where('status == "failed"')
        ),
        segment_by="region",
    ),
    slo("b-id", RatioIndicator("p", "b", good=compile_where('event_id != "e5"'))),  # reads the id
)


def snapshot(recorder: SLIRecorder) -> list[Any]:
    out: list[Any] = []
    for handler in recorder._pending.values():
        state = dict(vars(handler))
        for name in ("slo", "ind", "sampler", "_segments"):
            state.pop(name, None)
        if "_bins" in state:
            state["_bins"] = {s: list(hashes) for s, hashes in state["_bins"].items()}
            state["_bin_seconds"] = sorted(state["_bin_seconds"])
        state.pop("evidence")
        out.append(state)
    out.append({name: vars(evidence) for name, evidence in recorder.evidence.items()})
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(st.lists(observations, max_size=25), st.none() | st.floats(0.0, 1500.0)),
        min_size=1,
        max_size=8,
    ),
    sampling=st.sampled_from((1.0, 0.5)),
    cap=st.sampled_from((3, 1_000_000)),
)
def test_the_compiled_sli_pass_decides_what_the_python_one_decides(steps, sampling, cap) -> None:
    samplers = {"p": IdSampler(sampling)}
    py = SLIRecorder(SLOS, samplers, max_pending=cap)
    py._core = None
    cc = SLIRecorder(SLOS, samplers, max_pending=cap)
    assert cc._core is not None
    py_log: list[tuple[str, float, int, int]] = []
    cc_log: list[tuple[str, float, int, int]] = []
    for batch, expire_at in steps:
        py.observe(batch, lambda *d: py_log.append(d))
        cc.observe(batch, lambda *d: cc_log.append(d))
        assert cc_log == py_log
        assert snapshot(cc) == snapshot(py)
        if expire_at is not None:
            py.expire(T0 + expire_at, lambda *d: py_log.append(d))
            cc.expire(T0 + expire_at, lambda *d: cc_log.append(d))
            assert cc_log == py_log
            assert snapshot(cc) == snapshot(py)
