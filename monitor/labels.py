"""Label sets as Prometheus and Alertmanager see them: sorted pairs, empty values dropped, and
the fingerprint that names an alert.

The lowest layer: verdicts, alerts, SLO and check judges all name their series with these.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

Labels = tuple[tuple[str, str], ...]


def labels_of(mapping: Mapping[str, str]) -> Labels:
    """Sorted, hashable labels; empty values are dropped as in Prometheus."""
    return tuple(sorted((k, str(v)) for k, v in mapping.items() if v != ""))


def fingerprint(labels: Labels) -> str:
    """Stable 16-hex-digit identity of an alert: the same labels give the same fingerprint."""
    text = "\xff".join(f"{k}\xfe{v}" for k, v in labels)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


__all__ = ["Labels", "fingerprint", "labels_of"]
