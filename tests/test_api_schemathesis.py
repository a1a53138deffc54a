"""Issue 8 item 2: schemathesis sweeps the API from its own OpenAPI document.

Every /api operation is called with generated input (valid and invalid, `GenerationMode.all`)
against the ASGI app with the bearer token, and the stateful run follows the links schemathesis
infers between operations (a created customer's id into its GET, PATCH, leads, bookings...).
Checked: no server error (5xx) and every answer matches its documented schema.

Bounded (fixed seed, few examples) by default, so CI runs it in a couple of minutes per
database; `LEADFLOW_SCHEMATHESIS_DEEP=1` runs a randomised, much larger sweep (README, Testing).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from schemathesis import CheckContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from leadflow.api.app import create_app
from leadflow.settings import Settings
from tests.conftest import API_TOKEN
from tests.db_reset import reset
from tests.factories_bookings import make_booking
from tests.factories_mail import make_customer, make_lead, make_mailbox, make_message, make_thread

DEEP = os.environ.get("LEADFLOW_SCHEMATHESIS_DEEP", "") not in ("", "0")
EXAMPLES = 400 if DEEP else 30
STEPS = 40 if DEEP else 12
SEEDED_AT = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
BASE_URL = f"http://{asgi.HOST}"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def no_server_error(ctx: CheckContext, response: Response, case: schemathesis.Case) -> None:
    """`not_a_server_error`, except POST /api/sync's deliberate 503 "Gmail is not configured"
    (the test settings configure no Gmail account; the answer is the error shape)."""
    if response.status_code == 503 and case.operation.label == "POST /api/sync":
        error = response.json()["error"]
        assert error["code"] == "service_unavailable"
        assert error["message"].startswith("Gmail is not configured")
        return
    not_a_server_error(ctx, response, case)


CHECKS = [no_server_error, response_schema_conformance]
SWEEP = settings(
    max_examples=EXAMPLES,
    derandomize=not DEEP,  # a fixed seed unless asked for a deep, random run
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _schema() -> schemathesis.BaseSchema:
    # The document only: the app that answers is built per module, on the test database.
    document = create_app(Settings(_env_file=None)).openapi()  # type: ignore[call-arg]
    loaded = schemathesis.openapi.from_dict(document)
    loaded.config.generation.update(modes=list(schemathesis.GenerationMode))
    return loaded.include(path_regex="^/api")


schema = _schema()


def _served(settings: Settings) -> Iterator[asgi.ASGIClient]:
    """The app on the test database, its lifespan run by schemathesis' event-loop thread."""
    with asgi.get_client(create_app(settings)) as client:
        client.headers.update(AUTH)
        yield client
    asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def api_client(settings: Settings, engine: AsyncEngine) -> Iterator[asgi.ASGIClient]:
    yield from _served(settings)


@pytest.fixture
def stateful_client(settings: Settings, engine: AsyncEngine) -> Iterator[asgi.ASGIClient]:
    yield from _served(settings)


async def _seed(session: AsyncSession) -> None:
    """One row of each kind with id 1 (the path ids' OpenAPI example): the sweep reaches every
    operation's success path too, threads included, which only a sync can create."""
    customer = await make_customer(session, id=1)
    lead = await make_lead(session, id=1, customer_id=customer.id, received_at=SEEDED_AT)
    mailbox = await make_mailbox(session, id=1)
    thread = await make_thread(session, id=1, mailbox_id=mailbox.id)
    await make_message(session, thread=thread, sent_at=SEEDED_AT)
    start = SEEDED_AT + timedelta(days=1)
    await make_booking(
        session, customer=customer, id=1, lead_id=lead.id, start=start, end=start + HOUR
    )


async def _reset(app: FastAPI) -> None:
    """Empty every table (as the suite's fixture does between tests) and the app's cache, and
    seed them again: every stateful scenario starts from the same data."""
    await reset(app.state.engine)
    await app.state.cache.invalidate_prefix("")
    async with app.state.sessionmaker() as session, session.begin():
        await _seed(session)


@pytest.fixture
async def seeded(session: AsyncSession) -> None:
    """Seed through the suite's own session; its autouse fixture empties the tables after."""
    await _seed(session)
    await session.commit()


@schema.parametrize()
@SWEEP
@pytest.mark.usefixtures("seeded")
def test_no_operation_answers_a_server_error_or_breaks_its_schema(
    case: schemathesis.Case, api_client: asgi.ASGIClient
) -> None:
    case.call_and_validate(base_url=BASE_URL, session=api_client, checks=CHECKS)


class Stateful(schema.as_state_machine()):  # type: ignore[misc]
    """Sequences along the links between operations (create, then read and change what was
    created), with the same checks."""

    client: asgi.ASGIClient | None = None
    app: FastAPI | None = None

    def setup(self) -> None:
        # Each scenario starts from empty tables and an empty cache, so one sequence of choices
        # always meets the same answers (Hypothesis replays and shrinks sequences).
        assert self.app is not None
        asgi._get_portal().call(_reset, self.app)

    def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
        return {"base_url": BASE_URL, "session": self.client}

    def validate_response(
        self, response: Response, case: schemathesis.Case, *_: object, **kwargs: object
    ) -> None:
        case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)


def test_stateful_sequences_answer_no_server_error(stateful_client: asgi.ASGIClient) -> None:
    Stateful.client = stateful_client
    Stateful.app = stateful_client.app  # type: ignore[assignment]
    Stateful.run(
        settings=settings(SWEEP, max_examples=max(EXAMPLES // 3, 10), stateful_step_count=STEPS)
    )
