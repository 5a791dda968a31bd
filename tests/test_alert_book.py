"""The alert state machine: pending → firing → resolved with ``for`` and ``keep_firing_for``."""

from __future__ import annotations

import pytest

from monitor.alerting.alert import AlertState, labels_of
from monitor.alerting.book import AlertBook, AlertPolicy
from monitor.verdict import Judgement, Verdict

F, OK, NO = Judgement.FIRING, Judgement.OK, Judgement.NO_DATA


def verdict(judgement: Judgement, at: float, check: str = "volume") -> Verdict:
    labels = labels_of({"pipeline": "signup", "hop": "broker"})
    return Verdict(check, labels, judgement, at, 0.0, "drop", at)


def states(book: AlertBook, timeline: list[tuple[float, Judgement]], check: str = "volume"):
    """Feed one verdict per moment; the book's state of the series after each (``-``: none)."""
    out = []
    for at, judgement in timeline:
        book.apply([verdict(judgement, at, check)], at)
        alerts = book.alerts()
        out.append(str(alerts[0].state) if alerts else "-")
    return out


CASES = [
    (
        "for 0: fires at once, resolves after 2 clean buckets",
        AlertPolicy(),
        [(0, F), (60, OK), (120, OK)],
        ["firing", "firing", "resolved"],
    ),
    (
        "for 120: pending until the condition held 120 s",
        AlertPolicy(for_=120),
        [(0, F), (60, F), (120, F), (180, F)],
        ["pending", "pending", "firing", "firing"],
    ),
    (
        "for 120: a clean verdict while pending drops the alert",
        AlertPolicy(for_=120),
        [(0, F), (60, OK), (120, F)],
        ["pending", "-", "pending"],
    ),
    (
        "no data neither fires a pending alert nor clears it",
        AlertPolicy(for_=120),
        [(0, F), (60, NO), (180, F)],
        ["pending", "pending", "firing"],
    ),
    (
        "keep_firing_for 180: firing until 180 s after the first clean verdict",
        AlertPolicy(keep_firing_for=180, resolve_after=1),
        [(0, F), (60, OK), (120, OK), (180, OK), (240, OK)],
        ["firing", "firing", "firing", "firing", "resolved"],
    ),
    (
        "a firing verdict restarts keep_firing_for",
        AlertPolicy(keep_firing_for=120, resolve_after=1),
        [(0, F), (60, OK), (120, F), (180, OK), (240, OK), (300, OK)],
        ["firing", "firing", "firing", "firing", "firing", "resolved"],
    ),
    (
        "no data is not recovery",
        AlertPolicy(),
        [(0, F), (60, OK), (120, NO), (180, OK)],
        ["firing", "firing", "firing", "resolved"],
    ),
]


@pytest.mark.parametrize(
    ("policy", "timeline", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_state_machine(policy, timeline, expected):
    book = AlertBook(policies={"volume": policy})
    assert states(book, timeline) == expected


def test_starts_at_is_when_it_fired_and_pending_ones_are_reported_once():
    book = AlertBook(policies={"volume": AlertPolicy(for_=120)})
    [pending] = book.apply([verdict(F, 0)], 0)
    assert pending.state is AlertState.PENDING and pending.starts_at == 0
    assert book.apply([verdict(F, 60)], 60) == []
    [fired] = book.apply([verdict(F, 120)], 120)
    assert fired.state is AlertState.FIRING and fired.starts_at == 120


def test_slo_verdicts_resolve_at_the_first_clean_one():
    assert states(AlertBook(), [(0, F), (60, OK)], check="slo") == ["firing", "resolved"]


@pytest.mark.parametrize(
    ("check", "expected"),
    [("slo", ("1.2× burn", {"burn": 1.2})), ("volume", ("6.1× burn", {"burn": 6.1}))],
    ids=[
        "a resolved SLO alert says the burn rate of the verdict that resolved it",
        "other checks' resolved alerts keep the last firing summary, as Prometheus does",
    ],
)
def test_what_a_resolved_alert_says(check: str, expected: tuple[str, dict]) -> None:
    labels = labels_of({"slo": "signup-latency", "tier": "page-6h"})
    book = AlertBook(resolve_after=1)
    book.apply([Verdict(check, labels, F, 0, 6.1, "6.1× burn", evidence={"burn": 6.1})], 0)
    [resolved] = book.apply(
        [Verdict(check, labels, OK, 60, 1.2, "1.2× burn", evidence={"burn": 1.2})], 60
    )
    assert resolved.state is AlertState.RESOLVED
    assert (dict(resolved.annotations)["summary"], dict(resolved.evidence)) == expected


def test_a_dropped_pending_alert_is_reported_for_the_store_to_forget():
    book = AlertBook(policies={"volume": AlertPolicy(for_=120)})
    [pending] = book.apply([verdict(F, 0)], 0)
    book.apply([verdict(OK, 60)], 60)
    assert book.drain_removed() == [pending.fingerprint] and book.drain_removed() == []


def test_to_bytes_carries_pending_timers_and_clean_counts():
    policy = {"volume": AlertPolicy(for_=120, keep_firing_for=100, resolve_after=2)}
    book = AlertBook(policies=policy)
    for at in (0, 60, 120):
        book.apply([verdict(F, at)], at)
    book.apply([verdict(OK, 180)], 180)  # one clean verdict, keep_firing_for started at 180
    again = AlertBook(policies=policy)
    again.restore(book.to_bytes())
    assert [a.state for a in again.alerts()] == [AlertState.FIRING]
    [resolved] = again.apply([verdict(OK, 280)], 280)  # 2 clean, 100 s after the first
    assert resolved.state is AlertState.RESOLVED and resolved.ends_at == 280


def test_load_resumes_a_pending_alert_from_its_start():
    policy = {"volume": AlertPolicy(for_=120)}
    book = AlertBook(policies=policy)
    book.apply([verdict(F, 0)], 0)
    again = AlertBook(policies=policy)
    again.load(book.alerts())
    [fired] = again.apply([verdict(F, 120)], 120)
    assert fired.state is AlertState.FIRING


def test_a_checks_own_for_wins_over_its_kinds_policy() -> None:
    """``for`` / ``keep_firing_for`` set on one check in checks/*.yaml apply to that check only."""
    book = AlertBook(policies={"eu-volume": AlertPolicy(for_=120)})
    named = labels_of({"pipeline": "signup", "hop": "broker", "check_name": "eu-volume"})
    other = labels_of({"pipeline": "signup", "hop": "broker", "check_name": "us-volume"})
    for at in (0, 60):
        book.apply([Verdict("volume", named, F, at, 0.0, "drop", at)], at)
        book.apply([Verdict("volume", other, F, at, 0.0, "drop", at)], at)
    by_name = {dict(a.labels)["check_name"]: a.state for a in book.alerts()}
    assert by_name == {"eu-volume": AlertState.PENDING, "us-volume": AlertState.FIRING}


def test_a_checks_links_become_annotations_beside_the_summary() -> None:
    book = AlertBook()
    links = (("runbook_url", "https://runbooks.example.com/x"),)
    [alert] = book.apply(
        [Verdict("volume", labels_of({"hop": "b"}), F, 0, 1.0, "drop", 0, links=links)], 0
    )
    assert dict(alert.annotations) == {
        "summary": "drop",
        "runbook_url": "https://runbooks.example.com/x",
    }


def test_a_relearned_share_resolves_at_once_with_its_summary():
    """A divergence alert on a learned share that changed and stays resolves on the verdict that
    re-learned it (no clean-verdict wait), saying so."""
    labels = labels_of({"pipeline": "signup", "edge": "consent"})
    book = AlertBook(resolve_after=3)
    book.apply([Verdict("divergence", labels, F, 0, 1.0, "loss on consent")], 0)
    text = "loss on consent: share changed from 70.0% to 62.0% and stays; re-learned"
    evidence = {"relearned": True, "share_before": 0.7, "share_after": 0.62}
    [resolved] = book.apply(
        [Verdict("divergence", labels, OK, 60, 0.0, text, evidence=evidence)], 60
    )
    assert resolved.state is AlertState.RESOLVED
    assert dict(resolved.annotations)["summary"] == text
    assert dict(resolved.evidence)["share_after"] == 0.62


def test_late_not_lost_from_the_amendment_of_an_older_bucket_resolves_at_once():
    """The late arrivals that drain a loss alert amend a bucket older than the newest one judged;
    their resolution still counts (an older bucket's plain verdict would not)."""
    labels = labels_of({"pipeline": "signup", "edge": "broker->warehouse"})
    book = AlertBook()
    book.apply([Verdict("divergence", labels, F, 600, 1.0, "loss", bucket_start=300)], 600)
    book.apply([Verdict("divergence", labels, F, 660, 1.0, "loss", bucket_start=360)], 660)
    assert book.apply([Verdict("divergence", labels, OK, 720, bucket_start=300)], 720) == []
    text = "loss on broker->warehouse: late, not lost: 5 of the missing events arrived after the"
    late = Verdict("divergence", labels, OK, 720, 0.0, text, 300, evidence={"late_not_lost": True})
    [resolved] = book.apply([late], 720)
    assert resolved.state is AlertState.RESOLVED
    assert dict(resolved.annotations)["summary"] == text
