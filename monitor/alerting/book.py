"""The alert book: verdicts in, alert state out (first version: fire at once, resolve after clean buckets).

One alert per series (check + labels). A firing verdict opens or refreshes it; it resolves after
``resolve_after`` consecutive clean verdicts, so one lucky bucket in the middle of an incident does
not flap it. ``no_data`` and ``incomplete`` verdicts change nothing: silence is not recovery.
The full pending → firing → resolved machine with ``for`` / ``keep_firing_for`` comes with routing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from monitor.alerting.alert import Alert, AlertState, labels_of
from monitor.anomaly.check import Judgement, Verdict

ALERT_NAMES = {
    "divergence": "HopwatchEdgeDataLoss",
    "slo": "HopwatchSLOBurnRate",
    "volume": "HopwatchVolumeAnomaly",
    "rejections": "HopwatchRejectionSpike",
    "freshness": "HopwatchHopStalled",
    "latency": "HopwatchLatencyShift",
    "mix": "HopwatchMixShift",
    "identity": "HopwatchIdentityAnomaly",
}
RESOLVE_AFTER = {"slo": 1}
"""Clean verdicts needed to resolve, by check; SLO tiers do their own hysteresis (keep_firing_for)."""


class AlertBook:
    def __init__(self, resolve_after: int = 2, keep_resolved: float = 86400.0) -> None:
        self.resolve_after = resolve_after
        self.keep_resolved = keep_resolved
        self._alerts: dict[str, Alert] = {}
        self._clean: dict[str, int] = {}
        self._latest: dict[str, float] = {}

    def apply(self, verdicts: Iterable[Verdict], now: float) -> list[Alert]:
        """Update state from verdicts; return the alerts that changed (opened, refreshed, resolved)."""
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
        if v.bucket_start is not None:
            if v.bucket_start < self._latest.get(key, v.bucket_start):
                return None  # an amendment of an older bucket: the newest bucket decides the state
            self._latest[key] = v.bucket_start
        current = self._alerts.get(key)
        if v.judgement is Judgement.FIRING:
            self._clean[key] = 0
            starts = current.starts_at if current and current.state is AlertState.FIRING else now
            alert = Alert(
                labels=labels,
                annotations=labels_of({"summary": v.summary}),
                state=AlertState.FIRING,
                starts_at=starts,
                updated_at=now,
                evidence=v.evidence,
            )
            self._alerts[key] = alert
            return alert
        if v.judgement is Judgement.OK and current and current.state is AlertState.FIRING:
            self._clean[key] = self._clean.get(key, 0) + 1
            if self._clean[key] >= RESOLVE_AFTER.get(v.check, self.resolve_after):
                alert = replace(current, state=AlertState.RESOLVED, ends_at=now, updated_at=now)
                self._alerts[key] = alert
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

    def alerts(self) -> list[Alert]:
        return sorted(
            self._alerts.values(), key=lambda a: (a.state != AlertState.FIRING, -a.starts_at)
        )

    def firing(self) -> list[Alert]:
        return [a for a in self._alerts.values() if a.state is AlertState.FIRING]

    def load(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            self._alerts[alert.fingerprint] = alert
