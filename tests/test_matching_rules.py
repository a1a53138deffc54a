"""Matching rules as pure functions: one thread's facts and a customer index in, a decision out."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from leadflow.matching import rules
from leadflow.matching.rules import CustomerIndex, MatchDecision, ThreadFacts, decide

EXCLUSIONS = rules.build_exclusions(
    own_domains=["rendetalje.dk"],
    lead_senders={
        "rengoring_nu": ["*@leadmail.no"],
        "leadpoint": ["*@leadpoint.dk"],
        "adhelp": ["mw@adhelp.dk", "sp@adhelp.dk"],
        "website": ["noreply@rendetalje.dk"],
        "another_platform": ["leads@formportal.example"],
    },
)


def index_of(*customers: tuple[int, str | None, str | None]) -> CustomerIndex:
    index = CustomerIndex()
    for customer_id, email, phone in customers:
        index.add(customer_id, email=email, phone=phone, exclusions=EXCLUSIONS)
    return index


def facts(**kwargs: object) -> ThreadFacts:
    return ThreadFacts(thread_id=1, **kwargs)  # type: ignore[arg-type]


def matched(customer_id: int, rule: str) -> MatchDecision:
    return MatchDecision(
        customer_id=customer_id, rule=rule, confidence=rules.CONFIDENCE[rule], note=None
    )


INDEX = index_of(
    (1, "freja.holm@gmail.com", "+4522113344"),
    (2, "bo@tagrenderne.dk", "+4533445566"),
    (3, "karl.vinter@hotmail.dk", None),
    (4, "ida@solsikkehaven.dk", "+4540506070"),
)


def test_it_matches_a_lead_email_to_the_customer_with_its_email() -> None:
    decision = decide(facts(lead_emails=("Freja.Holm@gmail.com",)), INDEX, EXCLUSIONS)
    assert decision == matched(1, rules.LEAD)


def test_it_matches_a_lead_by_its_linked_customer_id() -> None:
    decision = decide(facts(lead_customer_ids=frozenset({4})), INDEX, EXCLUSIONS)
    assert decision == matched(4, rules.LEAD)


def test_a_lead_match_wins_over_a_participant_of_another_customer() -> None:
    decision = decide(
        facts(lead_emails=("freja.holm@gmail.com",), participants=("bo@tagrenderne.dk",)),
        INDEX,
        EXCLUSIONS,
    )
    assert decision == matched(1, rules.LEAD)


def test_it_matches_a_participant_address_exactly_after_trimming_and_case() -> None:
    decision = decide(
        facts(participants=("info@rendetalje.dk", "  Karl.Vinter@Hotmail.DK ")), INDEX, EXCLUSIONS
    )
    assert decision == matched(3, rules.EXACT_EMAIL)


@pytest.mark.parametrize(
    "address",
    [
        "lars@rendetalje.dk",
        "kontor@mail.rendetalje.dk",
        "system@leadmail.no",
        "kunde@leadpoint.dk",
        "mw@adhelp.dk",
        "anyone@adhelp.dk",
        "leads@formportal.example",
    ],
)
def test_it_ignores_own_platform_and_aggregator_addresses_even_when_a_customer_has_one(
    address: str,
) -> None:
    index = index_of((7, address, None))
    assert decide(facts(participants=(address,)), index, EXCLUSIONS) == rules.NO_MATCH


def test_a_lead_email_at_an_aggregator_never_becomes_a_match() -> None:
    index = index_of((7, "sp@adhelp.dk", None))
    assert decide(facts(lead_emails=("sp@adhelp.dk",)), index, EXCLUSIONS) == rules.NO_MATCH


def test_it_matches_a_reply_to_a_thread_of_one_customer() -> None:
    decision = decide(facts(reply_customer_ids=frozenset({2})), INDEX, EXCLUSIONS)
    assert decision == matched(2, rules.REPLY_CHAIN)


def test_it_matches_a_phone_written_in_an_inbound_body() -> None:
    phones = rules.extract_phones("Hej, ring gerne på 40 50 60 70.\nMvh Ida")
    decision = decide(facts(inbound_phones=phones), INDEX, EXCLUSIONS)
    assert decision == matched(4, rules.PHONE)


def test_it_matches_a_company_domain_used_by_exactly_one_customer() -> None:
    decision = decide(facts(participants=("regnskab@tagrenderne.dk",)), INDEX, EXCLUSIONS)
    assert decision == matched(2, rules.DOMAIN)


@pytest.mark.parametrize("domain", ["gmail.com", "hotmail.dk", "outlook.com", "mail.dk", "me.com"])
def test_it_never_matches_on_a_free_mail_domain(domain: str) -> None:
    index = index_of((1, f"someone@{domain}", None))
    decision = decide(facts(participants=(f"another.person@{domain}",)), index, EXCLUSIONS)
    assert decision == rules.NO_MATCH


def test_it_never_matches_on_the_own_domain() -> None:
    index = index_of((1, "formand@rendetalje.dk", None))
    decision = decide(facts(participants=("lars@rendetalje.dk",)), index, EXCLUSIONS)
    assert decision == rules.NO_MATCH


def test_nothing_known_leaves_the_thread_unmatched_without_a_note() -> None:
    decision = decide(facts(participants=("stranger@example.org",)), INDEX, EXCLUSIONS)
    assert decision == rules.NO_MATCH
    assert not decision.matched
    assert not decision.ambiguous


@pytest.mark.parametrize(
    ("thread", "rule", "ids"),
    [
        (facts(lead_emails=("freja.holm@gmail.com", "bo@tagrenderne.dk")), rules.LEAD, "1, 2"),
        (
            facts(lead_emails=("freja.holm@gmail.com",), lead_customer_ids=frozenset({3})),
            rules.LEAD,
            "1, 3",
        ),
        (
            facts(participants=("karl.vinter@hotmail.dk", "ida@solsikkehaven.dk")),
            rules.EXACT_EMAIL,
            "3, 4",
        ),
        (facts(reply_customer_ids=frozenset({2, 4})), rules.REPLY_CHAIN, "2, 4"),
        (facts(inbound_phones=frozenset({"+4522113344", "+4533445566"})), rules.PHONE, "1, 2"),
        (
            facts(participants=("a@tagrenderne.dk", "b@solsikkehaven.dk")),
            rules.DOMAIN,
            "2, 4",
        ),
    ],
)
def test_two_candidates_at_any_rule_leave_the_thread_unmatched_with_a_reason(
    thread: ThreadFacts, rule: str, ids: str
) -> None:
    decision = decide(thread, INDEX, EXCLUSIONS)
    assert decision.customer_id is None
    assert decision.ambiguous
    assert decision.rule == rule
    assert decision.note == f"{rule}: 2 candidates (ids {ids})"


def test_a_shared_phone_is_ambiguous() -> None:
    index = index_of((5, "a@x-firma.dk", "+4522113344"), (6, "b@y-firma.dk", "+4522113344"))
    decision = decide(facts(inbound_phones=frozenset({"+4522113344"})), index, EXCLUSIONS)
    assert decision.note == "phone: 2 candidates (ids 5, 6)"


def test_a_company_domain_shared_by_two_customers_is_ambiguous() -> None:
    index = index_of((5, "anna@byggefirma.dk", None), (6, "ole@byggefirma.dk", None))
    decision = decide(facts(participants=("bogholderi@byggefirma.dk",)), index, EXCLUSIONS)
    assert decision.note == "domain: 2 candidates (ids 5, 6)"


def test_a_conflict_at_a_stronger_rule_is_not_resolved_by_a_weaker_one() -> None:
    thread = facts(
        participants=("karl.vinter@hotmail.dk", "ida@solsikkehaven.dk"),
        inbound_phones=frozenset({"+4540506070"}),
    )
    decision = decide(thread, INDEX, EXCLUSIONS)
    assert decision.customer_id is None
    assert decision.rule == rules.EXACT_EMAIL


def test_a_manual_link_is_kept_whatever_the_other_rules_say() -> None:
    thread = facts(matched_by="manual", customer_id=3, participants=("ida@solsikkehaven.dk",))
    decision = decide(thread, INDEX, EXCLUSIONS)
    assert decision.customer_id == 3
    assert decision.rule == rules.MANUAL


def test_a_manual_unlink_stays_unlinked() -> None:
    thread = facts(matched_by="manual", customer_id=None, participants=("ida@solsikkehaven.dk",))
    decision = decide(thread, INDEX, EXCLUSIONS)
    assert decision.customer_id is None
    assert decision.rule == rules.MANUAL


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Telefon +45 22 11 33 44", {"+4522113344"}),
        ("tlf: +4522113344", {"+4522113344"}),
        ("Ring 22113344 efter kl. 16", {"+4522113344"}),
        ("Mobil: 22 11 33 44", {"+4522113344"}),
        ("Mobil: 2211 3344", {"+4522113344"}),
        ("tlf 0045 22 11 33 44", {"+4522113344"}),
        ("tlf. (+45) 22113344", {"+4522113344"}),
        ("Telefon nr. 22-11-33-44", {"+4522113344"}),
        ("Min kone har 31 41 51 61 og jeg har 22113344", {"+4531415161", "+4522113344"}),
    ],
)
def test_it_finds_danish_phone_numbers_in_common_formats(body: str, expected: set[str]) -> None:
    assert rules.extract_phones(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        "Vores CVR: 22113344",
        "CVR-nr. 22 11 33 44",
        "Faktura 22113344 er betalt",
        "Ordrenr: 22113344",
        "Modtaget 9-10-2025 kl. 20:31",
        "Dato 20.10.2025",
        "Konto 2211334455667788",
        "Reference 12345678",
        "",
    ],
)
def test_it_does_not_take_other_numbers_for_phones(body: str) -> None:
    assert rules.extract_phones(body) == frozenset()


def test_it_ignores_phones_in_quoted_history() -> None:
    body = (
        "Tak, det passer fint.\n\n"
        "Den 3. okt. 2025 kl. 10.12 skrev Rendetalje <info@rendetalje.dk>:\n"
        "> Ring til os på 22 11 33 44\n"
    )
    assert rules.extract_phones(body) == frozenset()


def test_it_ignores_lines_quoted_with_a_marker() -> None:
    assert rules.extract_phones("> tlf 22 11 33 44\nHilsen") == frozenset()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<abc@mail.example>", {"abc@mail.example"}),
        ("<a@x> <b@y>", {"a@x", "b@y"}),
        ("bare-id@host", {"bare-id@host"}),
        ("  ", set()),
        (None, set()),
    ],
)
def test_it_reads_message_ids_with_or_without_angle_brackets(
    raw: str | None, expected: set[str]
) -> None:
    assert rules.message_ids(raw) == expected


def test_settled_before_phone_holds_for_stronger_rules_only() -> None:
    assert rules.settled_before(matched(1, rules.EXACT_EMAIL), rules.PHONE)
    assert not rules.settled_before(matched(1, rules.DOMAIN), rules.PHONE)
    assert not rules.settled_before(rules.NO_MATCH, rules.PHONE)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Mobil +46 70 123 45 67, hilsen Sven", {"+46701234567"}),
        ("tlf 0046 70-123 45 67", {"+46701234567"}),
        ("Ring +47 912 34 567 eller 22 11 33 44", {"+4791234567", "+4522113344"}),
        ("Büro: +49 30 1234567.", {"+49301234567"}),
        # Not in Sweden's numbering plan, but the right length: as a lead form's number is kept.
        ("Ring gerne på +46717838651.", {"+46717838651"}),
        ("Ring +46 22 11 33 44 55", {"+462211334455"}),  # never its Danish-looking tail
        ("CVR +46 70 123 45 67", set()),  # a registration number's context, as for Danish ones
        ("Ring +46 70 123 45 67 22 11 33 44", set()),  # two numbers run together: neither
    ],
)
def test_it_finds_other_countries_numbers_written_with_their_code(
    body: str, expected: set[str]
) -> None:
    assert rules.extract_phones(body) == expected


REGIONS = ("SE", "NO", "DE", "GB", "PL", "NL", "FI", "IS")


@st.composite
def foreign_mobile(draw: st.DrawFn) -> tuple[str, str]:
    """A mobile number of another country (valid, or at least the right length), as E.164 and as
    a person might write it."""
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    assert example is not None
    national = str(example.national_number)
    kept = draw(st.integers(min_value=2, max_value=len(national) - 1))
    tail = draw(st.text("0123456789", min_size=len(national) - kept, max_size=len(national) - kept))
    number = phonenumbers.parse(f"+{example.country_code}{national[:kept]}{tail}")
    assume(phonenumbers.is_possible_number(number))
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    written = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    if draw(st.booleans()):
        written = "00" + written.removeprefix("+")
    separator = draw(st.sampled_from([" ", "-", "."]))
    return e164, written.replace(" ", separator)


@given(
    number=foreign_mobile(),
    before=st.sampled_from(["Ring på ", "Mobil: ", "tlf. ", "Mit nummer er ", "\n"]),
    after=st.sampled_from(["", ".", ", mvh Ida", " (efter kl. 16)", "\nHilsen"]),
)
def test_a_foreign_mobile_written_out_is_read_whole_and_alone(
    number: tuple[str, str], before: str, after: str
) -> None:
    e164, written = number
    assert rules.extract_phones(f"Hej\n{before}{written}{after}") == {e164}


def test_a_customer_with_a_swedish_number_is_matched_by_it() -> None:
    index = index_of((7, "sven@example.se", "+46701234567"))
    phones = rules.extract_phones("Hej, ring til mig på +46 70 123 45 67.\nSven")
    decision = decide(facts(inbound_phones=phones), index, EXCLUSIONS)
    assert decision == matched(7, rules.PHONE)
