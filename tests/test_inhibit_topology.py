"""Topology-aware inhibition on a 5-hop pipeline: sdk → ingest → broker → identity → activation."""

from __future__ import annotations

from itertools import pairwise

import pytest

from monitor.alerting.alert import Alert, AlertState, labels_of
from monitor.alerting.inhibit import Inhibitor, Place, Topology
from monitor.config.model import Edge, Hop, Pipeline

HOPS = ("sdk", "ingest", "broker", "identity", "activation")
SIGNUP = Pipeline(
    "signup",
    tuple(Hop(h) for h in HOPS),
    tuple(Edge(a, b) for a, b in pairwise(HOPS)),
)
TOPOLOGY = Topology([SIGNUP])


def edge(a: str, b: str, severity: str = "page", pipeline: str = "signup") -> Alert:
    return Alert(
        labels_of(
            {
                "alertname": "HopwatchEdgeDataLoss",
                "pipeline": pipeline,
                "edge": f"{a}->{b}",
                "from_hop": a,
                "to_hop": b,
                "severity": severity,
            }
        )
    )


def hop(name: str, alertname: str = "HopwatchVolumeAnomaly", severity: str = "page") -> Alert:
    return Alert(
        labels_of({"alertname": alertname, "pipeline": "signup", "hop": name, "severity": severity})
    )


CASES = [
    (
        "loss on sdk->ingest mutes a volume drop at broker",
        edge("sdk", "ingest"),
        hop("broker"),
        True,
    ),
    ("... and at identity", edge("sdk", "ingest"), hop("identity"), True),
    ("... and at activation", edge("sdk", "ingest"), hop("activation"), True),
    ("... and loss further down", edge("sdk", "ingest"), edge("broker", "identity"), True),
    ("... but not at ingest, its own hop", edge("sdk", "ingest"), hop("ingest"), False),
    (
        "... nor the next edge, which shares ingest",
        edge("sdk", "ingest"),
        edge("ingest", "broker"),
        False,
    ),
    ("nor its own edge", edge("sdk", "ingest"), edge("sdk", "ingest", severity="ticket"), False),
    ("loss never mutes upstream", edge("broker", "identity"), hop("ingest"), False),
    ("... nor an upstream edge", edge("broker", "identity"), edge("sdk", "ingest"), False),
    ("a stall at ingest mutes broker", hop("ingest", "HopwatchHopStalled"), hop("broker"), True),
    (
        "... and every edge after broker",
        hop("ingest", "HopwatchHopStalled"),
        edge("identity", "activation"),
        True,
    ),
    ("... not the hop itself", hop("ingest", "HopwatchHopStalled"), hop("ingest"), False),
    ("... nor upstream sdk", hop("ingest", "HopwatchHopStalled"), hop("sdk"), False),
    ("a ticket never mutes a page", edge("sdk", "ingest", "ticket"), hop("broker"), False),
    ("a page mutes a ticket", edge("sdk", "ingest"), hop("broker", severity="ticket"), True),
    (
        "another pipeline is not downstream",
        edge("sdk", "ingest"),
        edge("broker", "identity", pipeline="billing"),
        False,
    ),
]


@pytest.mark.parametrize(
    ("source", "target", "muted"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_topology_inhibition(source: Alert, target: Alert, muted: bool) -> None:
    inhibitor = Inhibitor((), TOPOLOGY)
    inhibitor.index([source, target])
    assert inhibitor.mutes(target) == ((source.fingerprint,) if muted else ())


def test_a_resolved_upstream_alert_mutes_nothing() -> None:
    from dataclasses import replace

    inhibitor = Inhibitor((), TOPOLOGY)
    source = replace(edge("sdk", "ingest"), state=AlertState.RESOLVED)
    target = hop("broker")
    inhibitor.index([source, target])
    assert inhibitor.mutes(target) == ()


def test_in_a_cycle_neither_side_mutes_the_other() -> None:
    loop = Pipeline(
        "loop", (Hop("a"), Hop("b"), Hop("c")), (Edge("a", "b"), Edge("b", "c"), Edge("c", "a"))
    )
    topo = Topology([loop])
    a = Place.of({"pipeline": "loop", "hop": "a"})
    c = Place.of({"pipeline": "loop", "hop": "c"})
    assert a is not None and c is not None
    assert not topo.downstream(a, c) and not topo.downstream(c, a)


def test_alerts_without_a_place_are_left_alone() -> None:
    slo = Alert(labels_of({"alertname": "HopwatchSLOBurnRate", "pipeline": "signup", "slo": "x"}))
    inhibitor = Inhibitor((), TOPOLOGY)
    inhibitor.index([hop("sdk", "HopwatchHopStalled"), slo])
    assert Place.of(dict(slo.labels)) is None
    assert inhibitor.mutes(slo) == ()


def test_reach_is_every_hop_after_one() -> None:
    assert TOPOLOGY.reach("signup", "ingest") == {"broker", "identity", "activation"}
    assert TOPOLOGY.reach("signup", "activation") == frozenset()
