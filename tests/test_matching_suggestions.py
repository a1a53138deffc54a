"""Suggested customers for an unmatched thread: the matching rules' near misses (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leadflow.matching import rules
from leadflow.matching.rules import CustomerIndex, ThreadFacts
from leadflow.matching.suggestions import (
    SAME_LOCAL_PART,
    SAME_NAME,
    fold_name,
    local_part,
    suggest,
)

EXCLUSIONS = rules.build_exclusions(
    own_domains=["rendetalje.dk"], lead_senders={"leadpoint": ["*@leadpoint.dk"]}
)


def index_of(*customers: tuple[int, str | None, str | None]) -> CustomerIndex:
    index = CustomerIndex()
    for customer_id, email, phone in customers:
        index.add(customer_id, email=email, phone=phone, exclusions=EXCLUSIONS)
    return index


def facts(**kwargs: object) -> ThreadFacts:
    return ThreadFacts(thread_id=1, **kwargs)  # type: ignore[arg-type]


def test_an_ambiguous_email_suggests_every_customer_that_has_it() -> None:
    index = index_of((1, "fælles@firma.dk", None), (2, "fælles@firma.dk", None))
    found = suggest(facts(participants=("Fælles@firma.dk",)), index, EXCLUSIONS)
    assert [s.customer_id for s in found] == [1, 2]
    # Both share the email and the company domain; the shared email is worth less than a sole one.
    assert found[0].reasons == (rules.EXACT_EMAIL, rules.DOMAIN)
    assert found[0].score < rules.CONFIDENCE[rules.EXACT_EMAIL]


def test_weaker_rules_after_a_conflict_are_suggested_too() -> None:
    index = index_of(
        (1, "a@byg.dk", None), (2, "b@byg.dk", None), (3, "c@gmail.com", "+4522113344")
    )
    found = suggest(
        facts(participants=("kontor@byg.dk",), inbound_phones=frozenset({"+4522113344"})),
        index,
        EXCLUSIONS,
    )
    # The phone rule's single candidate ranks above the two the domain rule found.
    assert [s.customer_id for s in found] == [3, 1, 2]
    assert found[0].reasons == (rules.PHONE,)
    assert {s.reasons for s in found[1:]} == {(rules.DOMAIN,)}


def test_the_same_mailbox_name_at_another_domain_is_a_near_miss() -> None:
    index = index_of((7, "birthe.hansen@hotmail.com", None), (8, "info@hotmail.com", None))
    found = suggest(facts(participants=("birthe.hansen@gmail.com",)), index, EXCLUSIONS)
    assert [(s.customer_id, s.reasons) for s in found] == [(7, (SAME_LOCAL_PART,))]


def test_a_generic_or_short_mailbox_name_is_no_near_miss() -> None:
    index = index_of((1, "info@firma.dk", None), (2, "bo@gmail.com", None))
    found = suggest(facts(participants=("info@andet.dk", "bo@hotmail.com")), index, EXCLUSIONS)
    assert found == []
    assert local_part("info@x.dk") is None
    assert local_part("bo@x.dk") is None
    assert local_part("birthe+tilbud@x.dk") == "birthe"


def test_a_customer_with_the_senders_name_is_suggested_with_letters_folded() -> None:
    index = index_of((5, "birthe@example.dk", None))
    found = suggest(
        facts(participants=("b.oe@gmail.com",)),
        index,
        EXCLUSIONS,
        sender_names=["BIRTHE  ØSTERGAARD"],
        customer_names={5: "Birthe Østergaard", 6: "Birthe Østergård"},
    )
    assert [(s.customer_id, s.reasons) for s in found] == [(5, (SAME_NAME,))]
    assert fold_name("  Åse   Ørum ") == "åse ørum"
    assert fold_name("   ") is None


def test_the_threads_own_customer_is_never_suggested() -> None:
    index = index_of((1, "kunde@gmail.com", None))
    thread = facts(participants=("kunde@gmail.com",), customer_id=1)
    assert suggest(thread, index, EXCLUSIONS) == []


def test_platform_and_own_addresses_suggest_nothing() -> None:
    index = index_of((1, "leads@leadpoint.dk", None), (2, "mads@rendetalje.dk", None))
    thread = facts(participants=("leads@leadpoint.dk", "mads@rendetalje.dk"))
    assert suggest(thread, index, EXCLUSIONS) == []


def test_a_lead_and_a_reply_chain_name_their_customers() -> None:
    found = suggest(
        facts(lead_customer_ids=frozenset({4}), reply_customer_ids=frozenset({4, 9})),
        CustomerIndex(),
        EXCLUSIONS,
    )
    assert found[0].customer_id == 4
    assert found[0].reasons == (rules.LEAD, rules.REPLY_CHAIN)
    assert found[0].score == 1.0
    assert [s.customer_id for s in found] == [4, 9]


def test_at_most_limit_suggestions_come_back() -> None:
    index = index_of(*((i, f"person{i}@byg.dk", None) for i in range(1, 12)))
    found = suggest(facts(participants=("kontor@byg.dk",)), index, EXCLUSIONS, limit=3)
    assert [s.customer_id for s in found] == [1, 2, 3]


_local = st.sampled_from(["birthe.hansen", "karl.vinter", "info", "mads99", "ole"])
_domain = st.sampled_from(["gmail.com", "byg.dk", "tag.dk", "hotmail.com", "rendetalje.dk"])
_address = st.builds(lambda local, domain: f"{local}@{domain}", _local, _domain)
_phone = st.sampled_from(["+4522113344", "+4533445566", "+4540506070"])


@given(
    customers=st.lists(st.tuples(_address, st.one_of(st.none(), _phone)), min_size=0, max_size=8),
    participants=st.lists(_address, max_size=3),
    phones=st.frozensets(_phone, max_size=2),
)
def test_a_thread_the_rules_would_match_suggests_that_customer_first(
    customers: list[tuple[str, str | None]], participants: list[str], phones: frozenset[str]
) -> None:
    index = index_of(*((i + 1, email, phone) for i, (email, phone) in enumerate(customers)))
    thread = facts(participants=tuple(participants), inbound_phones=phones)
    found = suggest(thread, index, EXCLUSIONS, limit=50)
    decision = rules.decide(thread, index, EXCLUSIONS)
    if decision.matched:
        assert found[0].customer_id == decision.customer_id
    if decision.ambiguous:
        assert set(map(int, decision.note.split("ids ")[1].rstrip(")").split(", "))) <= {  # type: ignore[union-attr]
            s.customer_id for s in found
        }
    for suggestion in found:
        assert suggestion.reasons
        assert 0 < suggestion.score <= 1
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)
