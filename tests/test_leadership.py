"""The leadership state machine (``monitor.leadership``) with an explicit clock: who may judge.

Lease 10 s, so a leader trusts an unconfirmed hold for 5 s after the attempt that last confirmed
it was *sent*; PostgreSQL ends a silent session (and frees the lock) only after the full 10 s.
"""

from __future__ import annotations

import pytest

from monitor.leadership import Leadership, Outcome, Role, Rules, may_lead, step

RULES = Rules(lease=10.0)
STANDBY = Leadership(Role.STANDBY, since=0.0, confirmed_at=None, term=0)
LEADER = Leadership(Role.LEADER, since=100.0, confirmed_at=100.0, term=1)

H, T, L, S = Outcome.HELD, Outcome.TAKEN, Outcome.LOST, Outcome.SILENT

CASES = [
    ("a standby that gets the lock leads from then on, in its next term",
     STANDBY, H, 200.0, 200.2, Leadership(Role.LEADER, 200.2, 200.0, 1)),
    ("a standby that finds the lock taken stays a standby, unchanged",
     STANDBY, T, 200.0, 200.1, STANDBY),
    ("a standby whose session broke stays a standby",
     STANDBY, L, 200.0, 200.1, STANDBY),
    ("a first attempt that finds the lock taken records when standby began",
     Leadership(), T, 5.0, 5.1, Leadership(Role.STANDBY, 5.1, None, 0)),
    ("a leader's confirmation moves its hold forward to when the attempt was sent",
     LEADER, H, 101.0, 101.3, Leadership(Role.LEADER, 100.0, 101.0, 1)),
    ("a leader whose session broke steps down at once: the lock may be free already",
     LEADER, L, 101.0, 101.1, Leadership(Role.STANDBY, 101.1, None, 1)),
    ("a leader that finds the lock taken steps down at once",
     LEADER, T, 101.0, 101.1, Leadership(Role.STANDBY, 101.1, None, 1)),
    ("a leader without an answer keeps leading within half the lease",
     LEADER, S, 103.0, 104.9, LEADER),
    ("a leader without an answer for half the lease steps down",
     LEADER, S, 104.0, 105.0, Leadership(Role.STANDBY, 105.0, None, 1)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("state", "outcome", "sent_at", "now", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_step(
    state: Leadership, outcome: Outcome, sent_at: float, now: float, expected: Leadership
) -> None:
    assert step(state, outcome, sent_at, now, RULES) == expected


def test_a_leader_may_judge_only_while_its_last_confirmation_is_younger_than_half_the_lease() -> (
    None
):
    assert [may_lead(LEADER, now, RULES) for now in (100.0, 104.99, 105.0, 200.0)] == [
        True,
        True,
        False,
        False,
    ]
    assert not may_lead(STANDBY, 100.0, RULES)


def test_a_cut_off_leader_stops_judging_before_the_server_can_hand_the_lock_to_a_standby() -> None:
    """A's last ping reaches the server at 10; afterwards its attempts go unanswered. The server
    ends A's idle session (freeing the lock) a lease later, at 20; B, attempting every second,
    leads from then. A stopped judging at 15: the two never judge at the same time."""
    a, b = Leadership(), Leadership()
    judging: dict[float, list[str]] = {}
    for second in range(0, 30):
        t = float(second)
        lock_free_for_b = t >= 10.0 + RULES.lease
        a = step(a, H if t <= 10.0 else S, t, t, RULES)
        b = step(b, H if lock_free_for_b else T, t, t, RULES)
        judging[t] = [n for n, s in (("a", a), ("b", b)) if may_lead(s, t, RULES)]
    assert max(t for t, who in judging.items() if who == ["a"]) == 14.0
    assert min(t for t, who in judging.items() if who == ["b"]) == 20.0
    assert all(len(who) <= 1 for who in judging.values())
    assert (a.role, b.role, b.term) == (Role.STANDBY, Role.LEADER, 1)
