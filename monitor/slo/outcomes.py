"""Good and bad event counts per SLO, by evaluation time, in ring buffers shared by all SLOs.

The indicators decide each event (good, bad, or still pending) and ``record`` the decision at the
moment it was made: a latency event that missed its threshold is bad when the threshold passed, a
late arrival after that does not change it, and a sampled label counts when it matures. The
evaluator (``evaluate.py``) reads window sums from here and does the budget arithmetic in
``burn.py``.

Two rings, one row per SLO, one clock for all rows, so one numpy reduction covers every SLO:

- minutes: ``max(longest tier window, 3d) + 1 bucket`` of 1-minute buckets, for the alert windows;
- hours: the longest SLO period + 1 bucket of 1-hour buckets, for the budget (rolling 28d/30d, or a
  calendar week/month aligned in its time zone), with the timeslice counts beside the events.

Windows are ``(now − W, now]`` at the rings' resolution: the bucket holding ``now`` and the
buckets before it, ``W / 60`` minutes in all. A rolling period is the last ``P / 3600`` hourly
buckets including the current one; a calendar period starts at the UTC hour holding its local
start, which is exact for zones whose offset is whole hours (for +5:30 or +5:45 the first bucket
also holds up to 45 minutes before the local midnight).

Timeslices (``slo.timeslice``, whole minutes dividing an hour; 1 minute by default): a slice is
good when its bad ratio is within the error budget, bad otherwise; empty slices do not count. The
hourly ring keeps the slice counts of its hour, updated as each slice's counts change (an outcome
recorded more than the minute ring's span in the past still counts as events, but no longer moves
a slice).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from monitor.slo.model import SLO, BudgetingMethod, TimeWindow, WindowKind

MINUTE = 60
HOUR = 3600
DAY = 86400
MIN_MINUTE_SPAN = 3 * DAY
CHECKPOINT_VERSION = 1
# Relative slack for "within the budget": 1 − 0.9 is 0.09999999999999998, and 1 bad in 10 is
# still exactly on budget.
EPS = 1e-9

IntArray = NDArray[np.int64]

# Layers of the hourly ring.
GOOD, BAD, GOOD_SLICES, BAD_SLICES = 0, 1, 2, 3


def period_hours(window: TimeWindow) -> int:
    """How many hourly buckets the longest instance of ``window`` spans."""
    if window.kind is WindowKind.CALENDAR:
        return 31 * 24 if _calendar_unit(window) == "month" else 7 * 24
    return math.ceil(window.duration / HOUR - EPS)


def period_start(now: float, window: TimeWindow) -> float:
    """The start of the SLO period holding ``now``, as the ledger counts it (hour-aligned)."""
    if window.kind is WindowKind.CALENDAR:
        return float(math.floor(calendar_start(now, window) / HOUR) * HOUR)
    return float((math.floor(now / HOUR) - period_hours(window) + 1) * HOUR)


def calendar_start(now: float, window: TimeWindow) -> float:
    """Local midnight starting the calendar week (Monday) or month holding ``now``."""
    tz = ZoneInfo(window.timezone)
    local = datetime.fromtimestamp(now, tz)
    if _calendar_unit(window) == "month":
        return datetime(local.year, local.month, 1, tzinfo=tz).timestamp()
    monday = local.date() - timedelta(days=local.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=tz).timestamp()


def _calendar_unit(window: TimeWindow) -> str:
    if window.calendar_unit is not None:
        return window.calendar_unit
    return "week" if window.duration <= 7 * DAY else "month"


def _slice_kind(good: int, bad: int, budget: float) -> int:
    """0 for an empty slice, 1 for a good one, 2 for a bad one (hourly layer = kind + 1)."""
    total = good + bad
    if total == 0:
        return 0
    return 2 if bad > budget * total * (1.0 + EPS) else 1


def _ring_slices(first: int, last: int, size: int) -> list[slice]:
    """Column slices of a ring of ``size`` holding absolute buckets ``first..last`` (inclusive)."""
    if last < first:
        return []
    if last - first + 1 >= size:
        return [slice(0, size)]
    a, b = first % size, last % size
    if a <= b:
        return [slice(a, b + 1)]
    return [slice(a, size), slice(0, b + 1)]


class _Ring:
    """``layers × rows × size`` counts of consecutive absolute buckets ending at ``head``."""

    def __init__(self, layers: int, rows: int, size: int) -> None:
        self.size = size
        self.counts = np.zeros((layers, rows, size), dtype=np.int64)
        self.head: int | None = None

    def advance(self, bucket: int) -> None:
        """Move the head forward to ``bucket``, emptying the buckets it reuses."""
        if self.head is None:
            self.head = bucket
            return
        if bucket <= self.head:
            return
        for cols in _ring_slices(self.head + 1, bucket, self.size):
            self.counts[:, :, cols] = 0
        self.head = bucket

    def holds(self, bucket: int) -> bool:
        return self.head is not None and self.head - self.size < bucket <= self.head

    def total(self, first: int, last: int) -> IntArray:
        """``layers × rows`` sums over absolute buckets ``first..last``, clipped to what is held."""
        out = np.zeros(self.counts.shape[:2], dtype=np.int64)
        if self.head is None:
            return out
        first = max(first, self.head - self.size + 1)
        last = min(last, self.head)
        for cols in _ring_slices(first, last, self.size):
            out += self.counts[:, :, cols].sum(axis=2)
        return out

    def copy_from(self, other: _Ring, rows: IntArray, other_rows: IntArray) -> None:
        """Take ``other_rows`` of ``other`` (a ring of any size) into ``rows`` of this one."""
        if other.head is None or rows.size == 0:
            return
        self.head = other.head
        span = min(self.size, other.size)
        buckets = np.arange(other.head - span + 1, other.head + 1)
        mine, theirs = buckets % self.size, buckets % other.size
        self.counts[:, rows[:, None], mine[None, :]] = other.counts[
            :, other_rows[:, None], theirs[None, :]
        ]


class OutcomeLedger:
    """Decided outcomes of every SLO, by the time they were decided; one row per SLO.

    Use ``record`` (or ``record_many`` for one tick of several SLOs) as indicators decide events,
    ``set_pending`` for the events not yet decided, and ``sums`` / ``sums_many`` /
    ``period_sums`` / ``period_slices`` to read windows for all SLOs at once. ``totals`` are
    monotonic (for ``_total`` counters); ``to_bytes`` / ``restore`` checkpoint the lot.
    """

    def __init__(self, slos: Sequence[SLO]) -> None:
        self.slos: tuple[SLO, ...] = tuple(slos)
        self.names: tuple[str, ...] = tuple(s.name for s in self.slos)
        self._index = {name: i for i, name in enumerate(self.names)}
        if len(self._index) != len(self.names):
            raise ValueError("OutcomeLedger: SLO names must be unique")
        for slo in self.slos:
            length = slo.timeslice if slo.budgeting is BudgetingMethod.TIMESLICES else MINUTE
            if length % MINUTE or HOUR % length:
                raise ValueError(
                    f"SLO {slo.name}: timeslice {slo.timeslice:g}s is not supported; the ledger "
                    f"needs whole minutes that divide an hour (use 1m, 5m, 10m, 15m, 30m or 1h)"
                )
        n = len(self.slos)
        longest = max((t.long_window for s in self.slos for t in s.tiers), default=0.0)
        self.minute_span = math.ceil(max(longest, MIN_MINUTE_SPAN) / MINUTE - EPS) + 1
        self.hour_span = max((period_hours(s.window) for s in self.slos), default=28 * 24) + 1
        self._minutes = _Ring(2, n, self.minute_span)
        self._hours = _Ring(4, n, self.hour_span)
        self._budget = np.array([s.error_budget for s in self.slos], dtype=np.float64)
        # Minutes per timeslice; 1-minute slices are also counted for occurrence SLOs (cheap).
        self._slice = [
            int(s.timeslice // MINUTE) if s.budgeting is BudgetingMethod.TIMESLICES else 1
            for s in self.slos
        ]
        self._slice_groups = {
            k: np.array([i for i, x in enumerate(self._slice) if x == k], dtype=np.int64)
            for k in set(self._slice)
        }
        self._pending = np.zeros(n, dtype=np.int64)
        self._totals = np.zeros((3, n), dtype=np.int64)  # good, bad, excluded
        self._exclusions = {
            i: [(e.start, e.end) for e in s.exclusions]
            for i, s in enumerate(self.slos)
            if s.exclusions
        }
        self._by_window: dict[TimeWindow, IntArray] = {}
        for window in dict.fromkeys(s.window for s in self.slos):
            rows = [i for i, s in enumerate(self.slos) if s.window == window]
            self._by_window[window] = np.array(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.slos)

    def index(self, slo: int | str) -> int:
        """The row of an SLO given by name or row."""
        if isinstance(slo, str):
            try:
                return self._index[slo]
            except KeyError:
                raise KeyError(f"no SLO named {slo!r}; known: {', '.join(self.names)}") from None
        if not 0 <= slo < len(self.slos):
            raise IndexError(f"SLO row {slo} out of range 0..{len(self.slos) - 1}")
        return slo

    # Recording

    def record(self, slo: int | str, at: float, good: int, bad: int) -> None:
        """Count ``good`` and ``bad`` outcomes of one SLO decided at ``at``."""
        # The scalar twin of ``record_many``: indicators call this per decision batch.
        row = self.index(slo)
        if good < 0 or bad < 0:
            raise ValueError("OutcomeLedger.record: counts must not be negative")
        if any(s <= at < e for s, e in self._exclusions.get(row, ())):
            self._totals[2, row] += good + bad
            return
        self._totals[0, row] += good
        self._totals[1, row] += bad
        minute = math.floor(at / MINUTE)
        hour = minute // (HOUR // MINUTE)
        self._minutes.advance(minute)
        self._hours.advance(hour)
        hours = self._hours.counts
        hcol = hour % self.hour_span
        in_hours = self._hours.holds(hour)
        if in_hours:
            hours[GOOD, row, hcol] += good
            hours[BAD, row, hcol] += bad
        if not self._minutes.holds(minute):
            return
        minutes = self._minutes.counts
        mcol = minute % self.minute_span
        k = self._slice[row]
        if k == 1:
            g0, b0 = int(minutes[0, row, mcol]), int(minutes[1, row, mcol])
        else:
            cols = self._slice_columns(minute, k)
            g0, b0 = (int(x) for x in minutes[:, row, cols].sum(axis=1))
        minutes[0, row, mcol] += good
        minutes[1, row, mcol] += bad
        if in_hours:
            budget = float(self._budget[row])
            before = _slice_kind(g0, b0, budget)
            after = _slice_kind(g0 + good, b0 + bad, budget)
            if before != after:
                if before:
                    hours[before + 1, row, hcol] -= 1
                if after:
                    hours[after + 1, row, hcol] += 1

    def record_batch(self, records: Sequence[tuple[str, float, int, int]]) -> None:
        """``record(slo, at, good, bad)`` for each of ``records`` (one ingest batch's decisions,
        in order), leaving exactly the state recording them one by one leaves, faster.

        A latency SLO decides about one event per observation, and ``record`` costs several
        microseconds of numpy scalar work, so with many SLOs it was most of the ingest cost.
        Here each SLO's outcomes in one minute are summed and recorded once. Exact when the batch
        spans fewer minutes (and hours) than the rings hold: then whether a record lands does not
        depend on the order (the head never passes a batch minute by a whole ring), the counts
        are sums, and a slice's good/bad transitions telescope to those of its final count. SLOs
        with exclusions (which look at the exact time), and batches spanning more, are recorded
        one by one.
        """
        if not records:
            return
        rows: dict[str, int] = {}
        sums: dict[tuple[int, int], list[int]] = {}  # (row, minute) -> [good, bad]
        first_at: dict[tuple[int, int], float] = {}
        exact: list[tuple[int, float, int, int]] = []
        lo = hi = math.floor(records[0][1] / MINUTE)
        for name, at, good, bad in records:
            row = rows.get(name)
            if row is None:
                row = rows[name] = self.index(name)
            if good < 0 or bad < 0:
                raise ValueError("OutcomeLedger.record: counts must not be negative")
            if row in self._exclusions:
                exact.append((row, at, good, bad))
                continue
            minute = math.floor(at / MINUTE)
            lo, hi = min(lo, minute), max(hi, minute)
            key = (row, minute)
            acc = sums.get(key)
            if acc is None:
                sums[key] = [good, bad]
                first_at[key] = at
            else:
                acc[0] += good
                acc[1] += bad
        minutes_per_hour = HOUR // MINUTE
        narrow = hi - lo < self.minute_span - 1 and (
            hi // minutes_per_hour - lo // minutes_per_hour < self.hour_span - 1
        )
        if not narrow:
            for name, at, good, bad in records:
                self.record(rows[name], at, good, bad)
            return
        for key, (good, bad) in sorted(sums.items(), key=lambda kv: kv[0][1]):
            self.record(key[0], first_at[key], good, bad)
        for row, at, good, bad in exact:
            self.record(row, at, good, bad)

    def record_many(
        self, rows: Sequence[int] | IntArray, at: float, good: Sequence[int] | IntArray,
        bad: Sequence[int] | IntArray,
    ) -> None:  # fmt: skip
        """Count outcomes of several SLOs (rows may repeat) decided at the same moment ``at``."""
        rows_a = np.asarray(rows, dtype=np.int64)
        good_a = np.asarray(good, dtype=np.int64)
        bad_a = np.asarray(bad, dtype=np.int64)
        if rows_a.size == 0:
            return
        if (good_a < 0).any() or (bad_a < 0).any():
            raise ValueError("OutcomeLedger.record: counts must not be negative")
        if self._exclusions:
            excluded = np.array(
                [any(s <= at < e for s, e in self._exclusions.get(int(r), ())) for r in rows_a]
            )
            if excluded.any():
                np.add.at(self._totals[2], rows_a[excluded], good_a[excluded] + bad_a[excluded])
                keep = ~excluded
                rows_a, good_a, bad_a = rows_a[keep], good_a[keep], bad_a[keep]
                if rows_a.size == 0:
                    return
        unique, inverse = np.unique(rows_a, return_inverse=True)
        if unique.size != rows_a.size:
            good_a = np.bincount(inverse, weights=good_a).astype(np.int64)
            bad_a = np.bincount(inverse, weights=bad_a).astype(np.int64)
        rows_a = unique
        self._totals[0, rows_a] += good_a
        self._totals[1, rows_a] += bad_a

        minute = math.floor(at / MINUTE)
        hour = minute // (HOUR // MINUTE)
        self._minutes.advance(minute)
        self._hours.advance(hour)
        in_hours = self._hours.holds(hour)
        if in_hours:
            hcol = hour % self.hour_span
            self._hours.counts[GOOD, rows_a, hcol] += good_a
            self._hours.counts[BAD, rows_a, hcol] += bad_a
        if not self._minutes.holds(minute):
            return
        mcol = minute % self.minute_span
        # (slice kind, rows, a mask or slice over rows_a selecting them)
        groups: list[tuple[int, np.ndarray, np.ndarray | slice]]
        if len(self._slice_groups) == 1:
            groups = [(self._slice[0], rows_a, slice(None))]
        else:
            groups = []
            for k, members in self._slice_groups.items():
                mask = np.isin(rows_a, members)
                if mask.any():
                    groups.append((k, rows_a[mask], mask))
        befores = [self._slice_kinds(rows, minute, k) for k, rows, _ in groups]
        self._minutes.counts[0, rows_a, mcol] += good_a
        self._minutes.counts[1, rows_a, mcol] += bad_a
        if not in_hours:
            return
        for (k, rows, _), before in zip(groups, befores, strict=True):
            after = self._slice_kinds(rows, minute, k)
            for kind, layer in ((1, GOOD_SLICES), (2, BAD_SLICES)):
                delta = (after == kind).astype(np.int64) - (before == kind)
                self._hours.counts[layer, rows, hcol] += delta

    def _slice_columns(self, minute: int, k: int) -> list[int]:
        """Minute-ring columns of the ``k``-minute slice holding ``minute`` (those still held)."""
        first = minute - minute % k
        return [m % self.minute_span for m in range(first, first + k) if self._minutes.holds(m)]

    def _slice_kinds(self, rows: IntArray, minute: int, k: int) -> NDArray[np.int8]:
        """0 for an empty slice, 1 for a good one, 2 for a bad one (hourly layer = kind + 1)."""
        if k == 1:
            col = minute % self.minute_span
            good = self._minutes.counts[0, rows, col]
            bad = self._minutes.counts[1, rows, col]
        else:
            cols = np.array(self._slice_columns(minute, k), dtype=np.int64)
            sums = self._minutes.counts[:, rows[:, None], cols[None, :]].sum(axis=2)
            good, bad = sums[0], sums[1]
        total = good + bad
        over = bad > self._budget[rows] * total * (1.0 + EPS)
        return np.where(total == 0, 0, np.where(over, 2, 1)).astype(np.int8)

    def set_pending(self, slo: int | str, n: int) -> None:
        """How many events of this SLO are waiting for a decision right now."""
        self._pending[self.index(slo)] = n

    @property
    def pending(self) -> IntArray:
        return self._pending.copy()

    def totals(self) -> tuple[IntArray, IntArray, IntArray]:
        """Monotonic cumulative (good, bad, excluded) per SLO since the ledger began."""
        good, bad, excluded = self._totals.copy()
        return good, bad, excluded

    # Reading

    def sums(self, now: float, window_seconds: float) -> tuple[IntArray, IntArray]:
        """(good, bad) per SLO over ``(now − W, now]`` at minute resolution."""
        return self.sums_many(now, [window_seconds])[window_seconds]

    def sums_many(
        self, now: float, windows: Sequence[float]
    ) -> dict[float, tuple[IntArray, IntArray]]:
        """``sums`` for several windows in one pass over the longest (nested windows share it)."""
        last = math.floor(now / MINUTE)
        out: dict[float, tuple[IntArray, IntArray]] = {}
        acc = np.zeros((2, len(self.slos)), dtype=np.int64)
        upto = last  # buckets after ``upto`` are already in ``acc``
        for window in sorted(set(windows)):
            first = last - math.ceil(window / MINUTE - EPS) + 1
            acc += self._minutes.total(first, upto)
            upto = min(upto, first - 1)
            out[window] = (acc[0].copy(), acc[1].copy())
        return out

    def period_table(self, now: float) -> IntArray:
        """``4 × n``: good, bad, good slices, bad slices per SLO over its current period."""
        last = math.floor(now / HOUR)
        starts: dict[int, list[IntArray]] = {}
        for window, rows in self._by_window.items():
            first = math.floor(period_start(now, window) / HOUR)
            starts.setdefault(first, []).append(rows)
        out = np.zeros((4, len(self.slos)), dtype=np.int64)
        acc = np.zeros_like(out)
        upto = last
        for first in sorted(starts, reverse=True):
            acc += self._hours.total(first, upto)
            upto = min(upto, first - 1)
            rows = np.concatenate(starts[first])
            out[:, rows] = acc[:, rows]
        return out

    def period_sums(self, now: float) -> tuple[IntArray, IntArray]:
        """(good, bad) events per SLO over its current SLO period."""
        table = self.period_table(now)
        return table[GOOD], table[BAD]

    def period_slices(self, now: float) -> tuple[IntArray, IntArray]:
        """(good, bad) timeslices per SLO over its current SLO period (1-minute slices for
        occurrence SLOs)."""
        table = self.period_table(now)
        return table[GOOD_SLICES], table[BAD_SLICES]

    # Checkpoints

    def to_bytes(self) -> bytes:
        """A checkpoint of every count, for ``restore`` after a restart."""
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            version=np.array(CHECKPOINT_VERSION),
            names=np.array(self.names, dtype=np.str_),
            minutes=self._minutes.counts,
            minute_head=np.array(-1 if self._minutes.head is None else self._minutes.head),
            hours=self._hours.counts,
            hour_head=np.array(-1 if self._hours.head is None else self._hours.head),
            pending=self._pending,
            totals=self._totals,
        )
        return buf.getvalue()

    def restore(self, data: bytes) -> None:
        """Load a checkpoint into this fresh ledger. SLOs are matched by name: rows of SLOs that
        are gone are dropped, new SLOs start empty, and ring spans may differ (tiers changed)."""
        if self._minutes.head is not None or self._hours.head is not None:
            raise ValueError(
                "OutcomeLedger.restore: this ledger already has outcomes; restore first"
            )
        with np.load(io.BytesIO(data), allow_pickle=False) as saved:
            version = int(saved["version"])
            if version != CHECKPOINT_VERSION:
                raise ValueError(
                    f"OutcomeLedger.restore: checkpoint version {version}, expected "
                    f"{CHECKPOINT_VERSION}; discard the checkpoint to start empty"
                )
            names = [str(x) for x in saved["names"]]
            pairs = [(self._index[nm], j) for j, nm in enumerate(names) if nm in self._index]
            rows = np.array([p[0] for p in pairs], dtype=np.int64)
            theirs = np.array([p[1] for p in pairs], dtype=np.int64)
            for ring, key in ((self._minutes, "minutes"), (self._hours, "hours")):
                counts = saved[key]
                head = int(saved[f"{key[:-1]}_head"])
                other = _Ring(counts.shape[0], counts.shape[1], counts.shape[2])
                other.counts = counts
                other.head = None if head < 0 else head
                ring.copy_from(other, rows, theirs)
            if rows.size:
                self._pending[rows] = saved["pending"][theirs]
                self._totals[:, rows] = saved["totals"][:, theirs]
