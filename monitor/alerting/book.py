"""The alert book: verdicts in, alert state out — pending → firing → resolved.

One alert per series (check + labels; its fingerprint is the hash of the sorted label set). The
machine is Prometheus's rule state with hopwatch's bucket hysteresis on top, per producer
(``AlertPolicy``):

- a firing verdict opens the alert ``pending`` (``starts_at`` = when the condition began); once
  the condition has held for ``for_`` it fires (``starts_at`` = when it fired; with ``for_ = 0``
  at once). A clean verdict while pending drops it: it never fired, so nothing resolves;
- a firing alert resolves once ``resolve_after`` consecutive verdicts were clean *and*
  ``keep_firing_for`` has passed since the first of them; a firing verdict in between starts over,
  so one lucky bucket in the middle of an incident does not flap it;
- ``no_data``, ``incomplete`` and ``learning`` verdicts change nothing: silence is not recovery.

Checks default to ``for_ = 0``, ``keep_firing_for = 0`` and 2 clean buckets; SLO burn tiers apply
their own ``for`` / ``keep_firing_for`` upstream (``monitor/slo/evaluate.py``; tiers keep firing
for their short window by default), so here they fire at once and resolve at the first clean
verdict, and the resolved alert says the burn rate of that verdict.

State survives restarts two ways: ``load(alerts)`` takes the alerts as stored one by one (pending
alerts resume their ``for`` from ``starts_at``; clean counts start over, which errs towards firing),
and ``to_bytes()`` / ``restore()`` carry everything, clean counts and ``keep_firing_for`` included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import msgspec

from monitor.alerting.alert import Alert, AlertState
from monitor.labels import labels_of
from monitor.verdict import Judgement, Verdict

ALERT_NAMES = {
    "divergence": "HopwatchEdgeDataLoss",
    "slo": "HopwatchSLOBurnRate",
    "volume": "HopwatchVolumeAnomaly",
    "rejections": "HopwatchRejectionSpike",
    "freshness": "HopwatchHopStalled",
    "latency": "HopwatchLatencyShift",
    "mix": "HopwatchMixShift",
    "identity": "HopwatchIdentityAnomaly",
    "source_down": "HopwatchSourceDown",
    "agent_down": "HopwatchAgentDown",
    "forbidden": "HopwatchForbiddenFlow",
}
RESOLVE_AFTER = {"slo": 1, "source_down": 1, "agent_down": 1}
"""Clean verdicts needed to resolve, by check; SLO tiers do their own hysteresis (keep_firing_for)."""
RESOLVED_WITH_VERDICT = frozenset({"slo"})
"""Checks whose resolved alert carries the resolving verdict's summary and evidence (the burn
rate now, below the threshold) rather than the last firing one's). So does a divergence alert
resolved because its shortfall arrived late: it then says "late, not lost"."""


@dataclass(frozen=True)
class AlertPolicy:
    """How one producer's verdicts become alert state."""

    for_: float = 0.0
    """Seconds the condition must hold before the alert fires; pending meanwhile."""
    keep_firing_for: float = 0.0
    """Seconds the alert keeps firing after its condition first clears."""
    resolve_after: int = 2
    """Consecutive clean verdicts needed to resolve."""


class AlertBook:
    """Verdicts → alerts. ``apply`` returns what changed; ``drain_removed`` what to forget."""

    def __init__(
        self,
        resolve_after: int = 2,
        keep_resolved: float = 86400.0,
        policies: Mapping[str, AlertPolicy] | None = None,
    ) -> None:
        self.resolve_after = resolve_after
        self.keep_resolved = keep_resolved
        self.policies = dict(policies or {})
        self._alerts: dict[str, Alert] = {}
        self._clean: dict[str, int] = {}
        self._cleared_at: dict[str, float] = {}
        self._latest: dict[str, float] = {}
        self._removed: list[str] = []

    def policy(self, check: str, name: str | None = None) -> AlertPolicy:
        """The policy of the check called ``name`` (its ``for`` / ``keep_firing_for``), else of
        its kind ``check``, else the default."""
        for key in (name, check):
            if key is not None and key in self.policies:
                return self.policies[key]
        return AlertPolicy(resolve_after=RESOLVE_AFTER.get(check, self.resolve_after))

    def apply(self, verdicts: Iterable[Verdict], now: float) -> list[Alert]:
        """Update state from verdicts; return the alerts that changed (opened pending, fired,
        refreshed while firing, resolved)."""
        changed = []
        for v in verdicts:
            alert = self._apply_one(v, now)
            if alert is not None:
                changed.append(alert)
        self._forget_old(now)
        return changed

    def _apply_one(self, v: Verdict, now: float) -> Alert | None:
        given = dict(v.labels)
        labels = labels_of(
            {
                **given,
                "alertname": ALERT_NAMES.get(v.check, v.check),
                "check": v.check,
                "severity": given.get("severity", "page"),
            }
        )
        key = Alert(labels).fingerprint
        # A resolution that says why ("late, not lost": the amendment of an older bucket brought
        # the missing events) is final whatever bucket it came from.
        says_why = bool(v.evidence.get("late_not_lost") or v.evidence.get("relearned"))
        if v.bucket_start is not None and not says_why:
            if v.bucket_start < self._latest.get(key, v.bucket_start):
                return None  # an amendment of an older bucket: the newest bucket decides the state
            self._latest[key] = v.bucket_start
        current = self._alerts.get(key)
        state = None if current is None else current.state
        policy = self.policy(v.check, given.get("check_name"))
        if v.judgement is Judgement.FIRING:
            self._clean[key] = 0
            self._cleared_at.pop(key, None)
            annotations = labels_of({"summary": v.summary, **dict(v.links)})
            if current is not None and state is AlertState.FIRING:
                alert = replace(
                    current, annotations=annotations, updated_at=now, evidence=v.evidence
                )
            else:
                active = current.starts_at if current and state is AlertState.PENDING else now
                fires = now - active >= policy.for_
                alert = Alert(
                    labels=labels,
                    annotations=annotations,
                    state=AlertState.FIRING if fires else AlertState.PENDING,
                    starts_at=now if fires else active,
                    updated_at=now,
                    evidence=v.evidence,
                )
                if state is AlertState.PENDING and not fires:
                    self._alerts[key] = alert
                    return None  # still pending: nothing new to tell
            self._alerts[key] = alert
            return alert
        if v.judgement is not Judgement.OK or current is None:
            return None
        if state is AlertState.PENDING:
            del self._alerts[key]
            self._removed.append(key)
            return None
        if state is AlertState.FIRING:
            self._clean[key] = self._clean.get(key, 0) + 1
            cleared = self._cleared_at.setdefault(key, now)
            # A shortfall that arrived late was never loss: nothing to wait out.
            # A learned share that changed and stays was re-learned: the report is final too.
            late = bool(v.evidence.get("late_not_lost") or v.evidence.get("relearned"))
            enough = self._clean[key] >= policy.resolve_after or late
            if enough and now - cleared >= policy.keep_firing_for:
                alert = replace(current, state=AlertState.RESOLVED, ends_at=now, updated_at=now)
                if v.check in RESOLVED_WITH_VERDICT or late:
                    summary = labels_of({"summary": v.summary, **dict(v.links)})
                    alert = replace(alert, annotations=summary, evidence=v.evidence)
                self._alerts[key] = alert
                self._clean.pop(key, None)
                self._cleared_at.pop(key, None)
                return alert
        return None

    def _forget_old(self, now: float) -> None:
        for key, alert in list(self._alerts.items()):
            if (
                alert.state is AlertState.RESOLVED
                and (alert.ends_at or now) < now - self.keep_resolved
            ):
                del self._alerts[key]
                self._clean.pop(key, None)
                self._cleared_at.pop(key, None)
                self._latest.pop(key, None)
                self._removed.append(key)

    def drain_removed(self) -> list[str]:
        """Fingerprints dropped since the last call (pending alerts whose condition cleared,
        resolved alerts past ``keep_resolved``), for the store to delete."""
        out, self._removed = self._removed, []
        return out

    def alerts(self) -> list[Alert]:
        order = {AlertState.FIRING: 0, AlertState.PENDING: 1, AlertState.RESOLVED: 2}
        return sorted(self._alerts.values(), key=lambda a: (order[a.state], -a.starts_at))

    def firing(self) -> list[Alert]:
        return [a for a in self._alerts.values() if a.state is AlertState.FIRING]

    def pending(self) -> list[Alert]:
        return [a for a in self._alerts.values() if a.state is AlertState.PENDING]

    def load(self, alerts: Iterable[Alert]) -> None:
        """Take alerts as stored; a pending alert resumes its ``for`` from its ``starts_at``."""
        for alert in alerts:
            self._alerts[alert.fingerprint] = alert

    # --- the whole state, for the engine's checkpoint -----------------------------------------

    def to_bytes(self) -> bytes:
        return msgspec.msgpack.encode(
            {
                "alerts": [a.to_json() for a in self._alerts.values()],
                "clean": self._clean,
                "cleared_at": self._cleared_at,
                "latest": self._latest,
            }
        )

    def restore(self, data: bytes) -> None:
        """Resume from ``to_bytes``; replaces what the book held."""
        state = msgspec.msgpack.decode(data)
        self._alerts = {}
        self.load(Alert.from_json(a) for a in state["alerts"])
        self._clean = {k: int(v) for k, v in state.get("clean", {}).items()}
        self._cleared_at = {k: float(v) for k, v in state.get("cleared_at", {}).items()}
        self._latest = {k: float(v) for k, v in state.get("latest", {}).items()}


__all__ = ["ALERT_NAMES", "RESOLVE_AFTER", "AlertBook", "AlertPolicy"]
