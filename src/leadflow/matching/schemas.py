"""Matching API shapes: the rematch request, a run's report, and overall statistics."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from leadflow.api.bounds import Id
from leadflow.customers.schemas import CustomerOut

MAX_REMATCH_IDS = 10_000


class RematchRequest(BaseModel):
    """POST /api/threads/rematch body; omit it to re-match every unmatched thread."""

    model_config = ConfigDict(extra="forbid", strict=True)

    all: bool = Field(
        False, description="Also re-evaluate automatic matches (manual links are never changed)."
    )
    thread_ids: list[Id] | None = Field(
        None, max_length=MAX_REMATCH_IDS, description="Only these threads (default: all threads)."
    )


class MatchReport(BaseModel):
    """Outcome of one matching run: examined = matched + ambiguous + unmatched."""

    examined: int = Field(description="Threads the rules were applied to (manual ones skipped).")
    matched: int = Field(description="Threads matched to a customer after the run.")
    matched_by_rule: dict[str, int] = Field(description="Matched threads per rule.")
    ambiguous: int = Field(description="Left unmatched because a rule found several customers.")
    unmatched: int = Field(description="No rule found a customer.")
    changed: int = Field(description="Threads whose match changed in this run.")


class MatchingStats(BaseModel):
    """Totals over every thread."""

    total_threads: int
    matched: int
    unmatched: int
    ambiguous: int = Field(description="Unmatched threads whose last run found several customers.")
    matched_by_rule: dict[str, int] = Field(description="Matched threads per rule (incl. manual).")
    match_rate: float = Field(description="matched / total_threads (0 when there are none).")


class SuggestedCustomer(BaseModel):
    """A customer that came close to matching a thread (the matching rules' near misses)."""

    customer: CustomerOut
    score: float = Field(description="0–1: the strongest reason's weight, best first.")
    reasons: list[str] = Field(
        description="Rule names (lead, exact_email, reply_chain, phone, domain) and near misses "
        "(same_local_part: the same mailbox name at another domain; same_name: the sender's "
        "name), strongest first."
    )
