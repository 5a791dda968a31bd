"""Which detector watches a series of a built-in kind of check: each kind's plug-in says
(``monitor/anomaly/kinds/<kind>.py``); this is the ``CheckRunner`` factory the daemon passes."""

from __future__ import annotations

from monitor.anomaly.kinds import BUILTIN_KINDS
from monitor.anomaly.model import CheckDef, Detector
from monitor.config.model import Config


def detector_for(check: CheckDef, bucket_seconds: float, config: Config) -> Detector:
    """The detector of one series of ``check``, built by its kind's plug-in."""
    return BUILTIN_KINDS.detector_for(check, bucket_seconds, config)
