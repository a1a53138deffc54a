"""The bookings pages: the Copenhagen week, the list, create, reschedule, overlap, cancel."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import Booking, BookingStatus, Customer, utcnow
from tests.dashboard.web import csrf_of
from tests.factories_bookings import make_booking, make_customer

_BOOKING_LINK = re.compile(r'href="/dashboard/bookings/(\d+)"')


async def _bookings(session: AsyncSession) -> list[Booking]:
    session.expire_all()
    rows = list((await session.execute(select(Booking).order_by(Booking.id))).scalars())
    await session.commit()
    return rows


async def _total_bookings(session: AsyncSession, customer_id: int) -> int:
    value = (
        await session.execute(select(Customer.total_bookings).where(Customer.id == customer_id))
    ).scalar_one()
    await session.commit()
    return int(value)


def _form(**fields: str) -> dict[str, str]:
    values = {
        "start_date": "2031-06-10",
        "start_clock": "09:00",
        "end_clock": "12:00",
        "team": "Hold A",
        "service_type": "Flytterengøring",
        "address": "Vestergade 1, 8000 Aarhus C",
        "status": "scheduled",
        "notes": "",
        "lead_id": "",
    }
    return values | fields


async def test_an_empty_week_and_list_say_so(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/dashboard/bookings?week=2031-06-11")
    assert page.status_code == 200
    assert "Ingen bookinger i denne uge" in page.text
    assert "Uge 24" in page.text
    assert 'href="?week=2031-06-02"' in page.text
    assert 'href="?week=2031-06-16"' in page.text
    listing = await browser.get("/dashboard/bookings/list")
    assert "Ingen kommende bookinger" in listing.text
    for week in ("soon", "9999-12-31", "0001-W01", "2031-W60"):
        unreadable = await browser.get(f"/dashboard/bookings?week={week}")
        assert unreadable.status_code == 422, week
        assert "Ugen kunne ikke læses" in unreadable.text


async def test_the_week_shows_bookings_on_their_copenhagen_days_monday_first(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, name="Birthe Østergaard")
    # Week 13 of 2031: summer time starts on Sunday 30 March at 02:00.
    sunday_late = await make_booking(
        session,
        customer=customer,
        start=datetime(2031, 3, 30, 20, 0, tzinfo=UTC),  # 22:00 summer time
        end=datetime(2031, 3, 30, 21, 0, tzinfo=UTC),
    )
    monday_early = await make_booking(
        session,
        customer=customer,
        start=datetime(2031, 3, 23, 23, 0, tzinfo=UTC),  # Monday 00:00 winter time
        end=datetime(2031, 3, 24, 1, 0, tzinfo=UTC),
        status=BookingStatus.CONFIRMED,
    )
    next_week = await make_booking(
        session,
        customer=customer,
        start=datetime(2031, 3, 30, 22, 0, tzinfo=UTC),  # Monday 31 March 00:00 local
        end=datetime(2031, 3, 30, 23, 0, tzinfo=UTC),
    )
    await session.commit()
    page = await browser.get("/dashboard/bookings?week=2031-W13")
    assert page.status_code == 200
    days = page.text.split('<li class="day')[1:]
    assert len(days) == 7
    assert "mandag 24. mar." in days[0]
    assert _BOOKING_LINK.findall(days[0]) == [str(monday_early.id)]
    assert "00.00–02.00" in days[0]
    assert "søndag 30. mar." in days[6]
    assert _BOOKING_LINK.findall(days[6]) == [str(sunday_late.id)]
    assert "22.00–23.00" in days[6]
    assert str(next_week.id) not in _BOOKING_LINK.findall(page.text)
    assert "Birthe Østergaard" in page.text
    following = await browser.get("/dashboard/bookings?week=2031-03-31")
    assert _BOOKING_LINK.findall(following.text.split('<ol class="week"')[1]) == [str(next_week.id)]


async def test_the_list_shows_coming_active_bookings(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    now = utcnow()
    customer = await make_customer(session, name="Karl Vinter")
    coming = await make_booking(
        session,
        customer=customer,
        start=now + timedelta(days=1),
        end=now + timedelta(days=1, hours=2),
    )
    cancelled = await make_booking(
        session,
        customer=customer,
        start=now + timedelta(days=2),
        end=now + timedelta(days=2, hours=2),
        status=BookingStatus.CANCELLED,
    )
    await make_booking(
        session, customer=customer, start=now - timedelta(days=2), end=now - timedelta(days=1)
    )
    await session.commit()
    page = await browser.get("/dashboard/bookings/list")
    assert _BOOKING_LINK.findall(page.text) == [str(coming.id)]
    assert 'data-label="Kunde"' in page.text
    everything = await browser.get("/dashboard/bookings/list?status=all")
    assert _BOOKING_LINK.findall(everything.text) == [str(coming.id), str(cancelled.id)]


async def test_a_new_booking_starts_with_choosing_the_customer(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, name="Åse Ørum", address="Torvet 2", city="Vejle")
    await session.commit()
    pick = await browser.get("/dashboard/bookings/new?q=ørum&day=2031-06-10")
    assert f"/dashboard/bookings/new?customer_id={customer.id}&amp;day=2031-06-10" in pick.text
    form = await browser.get(f"/dashboard/bookings/new?customer_id={customer.id}&day=2031-06-10")
    assert form.status_code == 200
    assert 'name="start_date" type="date" required value="2031-06-10"' in form.text
    assert 'value="Torvet 2 Vejle"' in form.text
    assert (await browser.get("/dashboard/bookings/new?customer_id=999999")).status_code == 404


async def test_creating_a_booking_stores_copenhagen_times_in_utc(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    await session.commit()
    customer_id = customer.id
    form = await browser.get(f"/dashboard/bookings/new?customer_id={customer_id}")
    answer = await browser.post(
        "/dashboard/bookings/new",
        data=_form(customer_id=str(customer_id), csrf_token=csrf_of(form.text)),
    )
    assert answer.status_code == 303
    [booking] = await _bookings(session)
    assert answer.headers["location"] == f"/dashboard/bookings/{booking.id}?saved=created"
    assert booking.start_time == datetime(2031, 6, 10, 7, 0, tzinfo=UTC)  # 09:00 summer time
    assert booking.end_time == datetime(2031, 6, 10, 10, 0, tzinfo=UTC)
    assert (booking.team, booking.service_type) == ("hold a", "Flytterengøring")
    assert await _total_bookings(session, customer_id) == 1
    page = await browser.get(answer.headers["location"])
    assert "Bookingen er oprettet" in page.text
    assert "tirs. 10. jun. 09.00</time>–<time" in page.text
    assert "12.00</time>" in page.text


async def test_an_overlapping_booking_names_the_one_it_collides_with_and_stores_nothing(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    holder = await make_customer(session, name="Birthe Østergaard")
    customer = await make_customer(session, name="Karl Vinter")
    existing = await make_booking(
        session,
        customer=holder,
        start=datetime(2031, 6, 10, 8, 0, tzinfo=UTC),  # 10:00–13:00 in Copenhagen
        end=datetime(2031, 6, 10, 11, 0, tzinfo=UTC),
        team="hold a",
    )
    await session.commit()
    existing_id, customer_id = existing.id, customer.id
    form = await browser.get(f"/dashboard/bookings/new?customer_id={customer_id}")
    answer = await browser.post(
        "/dashboard/bookings/new",
        data=_form(customer_id=str(customer_id), csrf_token=csrf_of(form.text)),
    )
    assert answer.status_code == 409
    assert "Ikke gemt: holdet “hold a” er allerede booket på det tidspunkt" in answer.text
    assert f'href="/dashboard/bookings/{existing_id}"' in answer.text
    assert "for Birthe Østergaard" in answer.text
    assert "tirs. 10. jun. 10.00</time>–<time" in answer.text
    assert "13.00</time>" in answer.text
    # The form keeps what was typed.
    assert 'name="start_clock" type="time" required value="09:00"' in answer.text
    assert [b.id for b in await _bookings(session)] == [existing_id]
    assert await _total_bookings(session, customer_id) == 0
    # Another team, or right after (half-open times), is fine.
    other_team = await browser.post(
        "/dashboard/bookings/new",
        data=_form(customer_id=str(customer_id), team="Hold B", csrf_token=csrf_of(form.text)),
    )
    assert other_team.status_code == 303
    after = await browser.post(
        "/dashboard/bookings/new",
        data=_form(
            customer_id=str(customer_id),
            start_clock="13:00",
            end_clock="14:00",
            csrf_token=csrf_of(form.text),
        ),
    )
    assert after.status_code == 303


async def test_bad_form_values_are_named_and_nothing_is_stored(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    await session.commit()
    customer_id = customer.id
    csrf = csrf_of((await browser.get(f"/dashboard/bookings/new?customer_id={customer_id}")).text)
    cases = {
        "b-end_clock-error": {"end_clock": "08:00"},
        "b-start_date-error": {"start_date": "10.6.2031"},
        "b-start_clock-error": {"start_date": "2031-03-30", "start_clock": "02:30"},
        "b-team-error": {"team": "x" * 101},
        "b-lead_id-error": {"lead_id": "999999"},
        "b-end_date-error": {"end_date": "9999-12-31"},
    }
    more = {
        "b-lead_id-error": {"lead_id": "99999999999999999999"},
        "b-start_date-error": {"start_date": "0001-01-01", "start_clock": "00:10"},
    }
    # Dates the API refuses (1970-2100) are named on their field, not a page-wide error.
    outside = {"b-start_date-error": {"start_date": "1950-01-01"}}
    outside_end = {"b-end_date-error": {"end_date": "2500-01-01"}}
    for error_id, fields in [
        *cases.items(),
        *more.items(),
        *outside.items(),
        *outside_end.items(),
    ]:
        answer = await browser.post(
            "/dashboard/bookings/new",
            data=_form(customer_id=str(customer_id), csrf_token=csrf, **fields),
        )
        assert answer.status_code == 422, fields
        assert f'id="{error_id}"' in answer.text, fields
        assert "Intet blev gemt" in answer.text
    no_customer = await browser.post("/dashboard/bookings/new", data=_form(csrf_token=csrf))
    assert no_customer.status_code == 422
    gone = await browser.post(
        "/dashboard/bookings/new", data=_form(customer_id="999999", csrf_token=csrf)
    )
    assert gone.status_code == 404
    huge = await browser.post(
        "/dashboard/bookings/new", data=_form(customer_id="9" * 20, csrf_token=csrf)
    )
    assert huge.status_code == 422
    assert (await browser.get("/dashboard/bookings/99999999999")).status_code == 422
    assert await _bookings(session) == []


async def test_rescheduling_moves_the_booking_and_an_overlap_is_refused(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, name="Ida Lund")
    first = await make_booking(
        session,
        customer=customer,
        start=datetime(2031, 6, 10, 7, 0, tzinfo=UTC),
        end=datetime(2031, 6, 10, 10, 0, tzinfo=UTC),
        team="hold a",
    )
    second = await make_booking(
        session,
        customer=customer,
        start=datetime(2031, 6, 11, 7, 0, tzinfo=UTC),
        end=datetime(2031, 6, 11, 10, 0, tzinfo=UTC),
        team="hold a",
    )
    await session.commit()
    first_id, second_id = first.id, second.id
    page = await browser.get(f"/dashboard/bookings/{second_id}")
    assert 'name="start_date" type="date" required value="2031-06-11"' in page.text
    csrf = csrf_of(page.text)
    clash = await browser.post(
        f"/dashboard/bookings/{second_id}/edit",
        data=_form(start_clock="11:00", end_clock="13:00", csrf_token=csrf),
    )
    assert clash.status_code == 409
    assert f'href="/dashboard/bookings/{first_id}"' in clash.text
    moved = await browser.post(
        f"/dashboard/bookings/{second_id}/edit",
        data=_form(
            start_date="2031-06-12", start_clock="14:00", end_clock="16:30", csrf_token=csrf
        ),
    )
    assert moved.status_code == 303
    assert moved.headers["location"] == f"/dashboard/bookings/{second_id}?saved=rescheduled"
    rows = {b.id: b for b in await _bookings(session)}
    assert rows[second_id].start_time == datetime(2031, 6, 12, 12, 0, tzinfo=UTC)
    assert rows[second_id].end_time == datetime(2031, 6, 12, 14, 30, tzinfo=UTC)
    assert rows[first_id].start_time == datetime(2031, 6, 10, 7, 0, tzinfo=UTC)
    bad = await browser.post(
        f"/dashboard/bookings/{second_id}/edit",
        data=_form(end_clock="08:00", csrf_token=csrf),
    )
    assert bad.status_code == 422
    assert (await _bookings(session))[1].end_time == datetime(2031, 6, 12, 14, 30, tzinfo=UTC)


async def test_cancelling_frees_the_slot_and_a_completed_booking_stays(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    booking = await make_booking(
        session,
        customer=customer,
        start=datetime(2031, 6, 10, 7, 0, tzinfo=UTC),
        end=datetime(2031, 6, 10, 10, 0, tzinfo=UTC),
    )
    done = await make_booking(
        session,
        customer=customer,
        start=datetime(2031, 6, 3, 7, 0, tzinfo=UTC),
        end=datetime(2031, 6, 3, 10, 0, tzinfo=UTC),
        status=BookingStatus.COMPLETED,
    )
    await session.commit()
    booking_id, done_id = booking.id, done.id
    page = await browser.get(f"/dashboard/bookings/{booking_id}")
    csrf = csrf_of(page.text)
    answer = await browser.post(
        f"/dashboard/bookings/{booking_id}/cancel", data={"csrf_token": csrf}
    )
    assert answer.status_code == 303
    page = await browser.get(answer.headers["location"])
    assert "Bookingen er aflyst; tiden er ledig igen" in page.text
    assert "En aflyst eller udført booking kan ikke ændres" in page.text
    refused = await browser.post(f"/dashboard/bookings/{done_id}/cancel", data={"csrf_token": csrf})
    assert refused.status_code == 409
    assert "En udført booking kan ikke aflyses" in refused.text
    statuses = {b.id: b.status for b in await _bookings(session)}
    assert statuses == {booking_id: BookingStatus.CANCELLED, done_id: BookingStatus.COMPLETED}
    assert (await browser.get("/dashboard/bookings/999999")).status_code == 404


async def test_every_booking_form_needs_the_csrf_token(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    booking = await make_booking(
        session,
        customer=customer,
        start=datetime(2031, 6, 10, 7, 0, tzinfo=UTC),
        end=datetime(2031, 6, 10, 10, 0, tzinfo=UTC),
    )
    await session.commit()
    customer_id, booking_id = customer.id, booking.id
    posts = {
        "/dashboard/bookings/new": _form(customer_id=str(customer_id), start_date="2031-07-01"),
        f"/dashboard/bookings/{booking_id}/edit": _form(start_date="2031-07-02"),
        f"/dashboard/bookings/{booking_id}/cancel": {},
    }
    for path, data in posts.items():
        for token in ({}, {"csrf_token": "forged"}):
            assert (await browser.post(path, data=data | token)).status_code == 403, path
    [row] = await _bookings(session)
    assert (row.status, row.start_time) == (
        BookingStatus.SCHEDULED,
        datetime(2031, 6, 10, 7, 0, tzinfo=UTC),
    )
    count = (await session.execute(select(func.count()).select_from(Booking))).scalar_one()
    await session.commit()
    assert count == 1


async def test_two_overlapping_bookings_at_once_store_one_and_name_it_to_the_other(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    first = await make_customer(session, name="Først")
    second = await make_customer(session, name="Anden")
    await session.commit()
    ids = (first.id, second.id)
    csrf = csrf_of((await browser.get(f"/dashboard/bookings/new?customer_id={ids[0]}")).text)
    answers = await asyncio.gather(
        *(
            browser.post(
                "/dashboard/bookings/new", data=_form(customer_id=str(cid), csrf_token=csrf)
            )
            for cid in ids
        )
    )
    assert sorted(a.status_code for a in answers) == [303, 409]
    [stored] = await _bookings(session)
    refused = next(a for a in answers if a.status_code == 409)
    assert f'href="/dashboard/bookings/{stored.id}"' in refused.text
    assert [await _total_bookings(session, cid) for cid in ids] == [
        int(cid == stored.customer_id) for cid in ids
    ]


async def test_confirming_and_completing_a_booking(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    booking = await make_booking(
        session,
        customer=customer,
        start=datetime(2031, 6, 10, 7, 0, tzinfo=UTC),
        end=datetime(2031, 6, 10, 10, 0, tzinfo=UTC),
    )
    await session.commit()
    booking_id = booking.id
    page = await browser.get(f"/dashboard/bookings/{booking_id}")
    assert "Markér som bekræftet" in page.text
    csrf = csrf_of(page.text)
    path = f"/dashboard/bookings/{booking_id}/status"
    confirmed = await browser.post(path, data={"csrf_token": csrf, "status": "confirmed"})
    assert confirmed.status_code == 303
    assert "Status ændret til Bekræftet" in (await browser.get(confirmed.headers["location"])).text
    done = await browser.post(path, data={"csrf_token": csrf, "status": "completed"})
    assert done.status_code == 303
    # A completed booking stays completed: the service refuses, the page says so.
    again = await browser.post(path, data={"csrf_token": csrf, "status": "scheduled"})
    assert again.status_code == 409
    assert "Bookingens status kan ikke ændres sådan" in again.text
    bad = await browser.post(path, data={"csrf_token": csrf, "status": "teleported"})
    assert bad.status_code == 422
    assert (await browser.post(path, data={"status": "cancelled"})).status_code == 403
    [row] = await _bookings(session)
    assert row.status is BookingStatus.COMPLETED


_ORIGINAL_FIELD = re.compile(r'name="original_([a-z_]+)" value="([^"]*)"')


async def test_a_reschedule_keeps_a_change_made_to_another_field_meanwhile(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, name="Ida Lund")
    booking = await make_booking(
        session,
        customer=customer,
        start=datetime(2031, 6, 10, 7, 0, tzinfo=UTC),
        end=datetime(2031, 6, 10, 10, 0, tzinfo=UTC),
        team="hold a",
    )
    await session.commit()
    booking_id = booking.id
    page = await browser.get(f"/dashboard/bookings/{booking_id}")
    shown = dict(_ORIGINAL_FIELD.findall(page.text))
    assert shown["start_clock"] == "09:00"  # Copenhagen summer time
    # Someone else writes a note while the owner has the form open.
    booking.notes = "Nøglen ligger under måtten"
    await session.commit()
    # The owner moves the booking by an hour, leaving the (now stale) other fields as shown.
    form = {f"original_{name}": value for name, value in shown.items()}
    form |= shown | {"start_clock": "10:00", "end_clock": "13:00", "status": "scheduled"}
    moved = await browser.post(
        f"/dashboard/bookings/{booking_id}/edit", data=form | {"csrf_token": csrf_of(page.text)}
    )
    assert moved.status_code == 303
    (row,) = await _bookings(session)
    assert row.start_time == datetime(2031, 6, 10, 8, 0, tzinfo=UTC)
    assert row.end_time == datetime(2031, 6, 10, 11, 0, tzinfo=UTC)
    assert row.notes == "Nøglen ligger under måtten"
    assert row.team == "hold a"


class _FormFields(HTMLParser):
    """What a browser submits for the booking edit form: every input, select and textarea."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        name = found.get("name", "")
        if tag == "input" and name:
            self.fields[name] = found.get("value", "")
        elif tag == "select":
            self._select = name
        elif (
            tag == "option"
            and self._select
            and ("selected" in found or self._select not in self.fields)
        ):
            self.fields[self._select] = found.get("value", "")
        elif tag == "textarea":
            self._textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data


def _browser_form(html: str, action: str) -> dict[str, str]:
    start = html.index(f'action="{action}"')
    parser = _FormFields()
    parser.feed(html[start : html.index("</form>", start)])
    return parser.fields


async def test_saving_a_note_through_the_form_as_a_browser_sends_it_leaves_the_times_alone(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The form shows no end date for a booking that ends the day it starts; saving only a note
    must send no times: not undo a reschedule made meanwhile, not move a booking in the
    repeated hour of the autumn DST change to the first 02:30."""
    customer = await make_customer(session, name="Ida Lund")
    # 02:30-02:50 Copenhagen, the second time (UTC+1) on 2031-10-26.
    folded = await make_booking(
        session,
        customer=customer,
        start=datetime(2031, 10, 26, 1, 30, tzinfo=UTC),
        end=datetime(2031, 10, 26, 1, 50, tzinfo=UTC),
    )
    plain = await make_booking(
        session,
        customer=customer,
        start=datetime(2031, 6, 10, 8, 0, tzinfo=UTC),
        end=datetime(2031, 6, 10, 10, 0, tzinfo=UTC),
    )
    await session.commit()
    ids = {"folded": folded.id, "plain": plain.id}
    forms = {}
    for label, booking_id in ids.items():
        page = await browser.get(f"/dashboard/bookings/{booking_id}")
        forms[label] = _browser_form(page.text, f"/dashboard/bookings/{booking_id}/edit")
        assert forms[label]["end_date"] == ""  # same day: the browser sends it empty
    # Someone reschedules the plain booking while its form is open.
    plain.start_time = datetime(2031, 6, 11, 8, 0, tzinfo=UTC)
    plain.end_time = datetime(2031, 6, 11, 10, 0, tzinfo=UTC)
    await session.commit()
    for label, booking_id in ids.items():
        saved = await browser.post(
            f"/dashboard/bookings/{booking_id}/edit",
            data=forms[label] | {"notes": "Ring på først"},
        )
        assert saved.status_code == 303, saved.text
    rows = {row.id: row for row in await _bookings(session)}
    assert (rows[ids["folded"]].start_time, rows[ids["folded"]].end_time) == (
        datetime(2031, 10, 26, 1, 30, tzinfo=UTC),
        datetime(2031, 10, 26, 1, 50, tzinfo=UTC),
    )
    assert rows[ids["plain"]].start_time == datetime(2031, 6, 11, 8, 0, tzinfo=UTC)
    assert all(row.notes == "Ring på først" for row in rows.values())
