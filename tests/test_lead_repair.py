"""What a fresh parse may change on a stored lead (pure): fill, correct, keep a person's edit."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.leads.parsers import ParsedLead
from leadflow.leads.repair import REPAIRABLE, plan_repair, snapshot, to_json

NEW = ParsedLead(
    source="Rengøring.nu",
    name="Vibeke Krag Clausen",
    email="vibeke@example.dk",
    phone="+4546395906",
    address="Kildeløkken 83",
    postal_code="8230",
    city="Åbyhøj",
    square_meters=98.0,
    preferred_date_text="Fleksibel",
    message="Vi vil gerne have samme person.",
    details={"Har I husdyr": "Nej"},
)
OLD = ParsedLead(
    source="Rengøring.nu",
    square_meters=98.0,
    message="Vi vil gerne have samme person.\n\nKontaktoplysninger\nNavn Vibeke Krag Clausen",
)


def _columns(lead: ParsedLead, **changed: Any) -> dict[str, Any]:
    columns = {name: getattr(lead, name) for name in REPAIRABLE}
    columns["needs_review"] = lead.needs_review
    return {**columns, **changed}


def test_it_fills_what_the_earlier_parse_missed_and_clears_needs_review() -> None:
    repair = plan_repair(_columns(OLD), parsed_before=snapshot(OLD), edited=[], new=NEW)
    assert set(repair.filled) == {
        "name", "email", "phone", "address", "postal_code", "city", "preferred_date_text",
        "details",
    }  # fmt: skip
    assert repair.corrected == ["message"]
    assert repair.changes["needs_review"] is False
    assert repair.changes["message"] == NEW.message


def test_without_a_snapshot_only_empty_fields_are_filled() -> None:
    repair = plan_repair(_columns(OLD), parsed_before=None, edited=[], new=NEW)
    assert "message" not in repair.changes
    assert repair.changes["name"] == NEW.name
    assert repair.corrected == []


def test_a_field_a_person_edited_is_never_changed_even_when_they_emptied_it() -> None:
    current = _columns(OLD, name="Vibeke (ring efter 16)", phone=None)
    repair = plan_repair(current, parsed_before=snapshot(OLD), edited=["name", "phone"], new=NEW)
    assert "name" not in repair.changes
    assert "phone" not in repair.changes
    assert repair.kept_edited == ["name", "phone"]


def test_a_value_that_is_not_the_parsers_is_kept_without_an_edit_record() -> None:
    current = _columns(OLD, message="Skrevet om af en person")
    repair = plan_repair(current, parsed_before=snapshot(OLD), edited=[], new=NEW)
    assert "message" not in repair.changes


def test_needs_review_set_by_a_person_stays() -> None:
    repair = plan_repair(_columns(OLD), parsed_before=None, edited=["needs_review"], new=NEW)
    assert "needs_review" not in repair.changes


def test_details_gain_new_answers_but_keep_stored_ones() -> None:
    current = _columns(OLD, details={"Har I husdyr": "Ja", "Domæne": "Rengøring.nu"})
    repair = plan_repair(current, parsed_before=None, edited=[], new=NEW)
    assert "details" not in repair.changes
    new = ParsedLead(source="Rengøring.nu", details={"Har I husdyr": "Nej", "Etage": "2"})
    repair = plan_repair(current, parsed_before=None, edited=[], new=new)
    assert repair.changes["details"] == {
        "Har I husdyr": "Ja",
        "Domæne": "Rengøring.nu",
        "Etage": "2",
    }


def test_the_snapshot_is_json() -> None:
    lead = ParsedLead(source="X", preferred_date=date(2025, 11, 15), square_meters=85.5)
    assert snapshot(lead)["preferred_date"] == "2025-11-15"
    assert snapshot(lead)["square_meters"] == 85.5


_values = st.one_of(st.none(), st.sampled_from(["a", "b", "Vibeke", ""]))
_columns_strategy = st.fixed_dictionaries({name: _values for name in REPAIRABLE[:6]})


@settings(max_examples=200, deadline=None)
@given(
    current=_columns_strategy,
    before=st.one_of(st.none(), _columns_strategy),
    new=_columns_strategy,
    edited=st.lists(st.sampled_from(REPAIRABLE[:6]), unique=True),
)
def test_a_repair_never_empties_a_field_or_touches_an_edited_one(
    current: dict[str, Any],
    before: dict[str, Any] | None,
    new: dict[str, Any],
    edited: list[str],
) -> None:
    parsed = ParsedLead(source="X", **{k: v or None for k, v in new.items()})
    repair = plan_repair(current, parsed_before=before, edited=edited, new=parsed)
    for name, value in repair.changes.items():
        if name == "needs_review":
            continue
        assert name not in edited
        assert value not in (None, "")
        was = current.get(name)
        assert was in (None, "") or (before is not None and to_json(was) == before.get(name))
