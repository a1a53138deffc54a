"""Which lead status may follow which: a pure table, checked by the lead service."""

from __future__ import annotations

from leadflow.models import LeadStatus

S = LeadStatus

ALLOWED_TRANSITIONS: dict[LeadStatus, frozenset[LeadStatus]] = {
    S.NEW: frozenset({S.CONTACTED, S.QUOTED, S.WON, S.LOST, S.SPAM}),
    S.CONTACTED: frozenset({S.QUOTED, S.WON, S.LOST, S.SPAM}),
    S.QUOTED: frozenset({S.WON, S.LOST, S.CONTACTED}),
    S.LOST: frozenset({S.NEW}),
    S.SPAM: frozenset({S.NEW}),
    # A won lead is final: the work is booked, and reopening it would skew the conversion KPIs.
    S.WON: frozenset(),
}


def allowed_targets(current: LeadStatus) -> list[LeadStatus]:
    """The statuses a lead in `current` may move to, in the enum's order."""
    targets = ALLOWED_TRANSITIONS[current]
    return [status for status in LeadStatus if status in targets]


def can_transition(current: LeadStatus, target: LeadStatus) -> bool:
    """True when `target` may follow `current`; staying in the same status is always allowed."""
    return current == target or target in ALLOWED_TRANSITIONS[current]
