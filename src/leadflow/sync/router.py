"""/api/sync routes: list sync runs, start one in the background."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.api.bounds import QueryText, Text320
from leadflow.api.page_json import json_fields, page_response
from leadflow.api.pagination import Page, PageDep
from leadflow.api.routing import make_router
from leadflow.errors import Conflict, ServiceUnavailable, Unprocessable
from leadflow.models import EmailIngestRun, IngestMode, IngestStatus, Mailbox
from leadflow.settings import Settings
from leadflow.sync.job import GmailClientFactory, start_sync
from leadflow.sync.lease import LeaseHeld
from leadflow.sync.mailboxes import (
    GmailNotConfigured,
    MailboxKindConflict,
    MailboxNotConfigured,
    normalise_email,
)
from leadflow.sync.runs import runs_query

log = logging.getLogger(__name__)

sync_router = make_router(prefix="/sync", tags=["sync"])


class SyncRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    mailbox_id: int
    mailbox: str
    mode: IngestMode
    status: IngestStatus
    started_at: datetime
    finished_at: datetime | None
    total_emails: int
    new_emails: int
    updated_emails: int
    errors: int
    api_calls: int
    retries: int
    error_log: list[dict[str, Any]]


class SyncRequest(BaseModel):
    # An unknown field is a 422 naming it, not a 2xx that silently ignored it.
    model_config = ConfigDict(extra="forbid")

    full: bool = Field(False, description="List the whole mailbox instead of reading history.")
    mailbox: Text320 | None = Field(
        None,
        description="Mailbox to sync: only LEADFLOW_GMAIL_USER (the default) has credentials.",
    )


def _run_out(run: EmailIngestRun, email: str) -> SyncRunOut:
    data = {c.name: getattr(run, c.name) for c in EmailIngestRun.__table__.columns}
    return SyncRunOut.model_validate({**data, "mailbox": email})


RUN_FIELDS = json_fields(SyncRunOut, EmailIngestRun, {"mailbox": Mailbox.email})


@sync_router.get("/runs", response_model=Page[SyncRunOut])
async def list_runs(
    request: Request,
    page: PageDep,
    mailbox: Annotated[
        QueryText | None, Query(max_length=320, description="Only runs of this mailbox (email).")
    ] = None,
) -> Response:
    """Sync runs, newest first."""
    stmt = runs_query(mailbox=mailbox)
    return await page_response(
        request, stmt, RUN_FIELDS, page, scalars=False, to_model=lambda row: _run_out(*row)
    )


@sync_router.post("", response_model=SyncRunOut, status_code=status.HTTP_202_ACCEPTED)
async def start_sync_run(request: Request, body: SyncRequest | None = None) -> SyncRunOut:
    """Start a sync now (incremental, or full with {"full": true}); 409 if one is running.

    422 for a mailbox other than the configured Gmail mailbox (no credentials for it).
    """
    body = body or SyncRequest()
    app: FastAPI = request.app
    settings: Settings = app.state.settings
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    factory: GmailClientFactory | None = getattr(app.state, "gmail_client_factory", None)
    tasks = sync_tasks(app)
    email = normalise_email(body.mailbox or settings.gmail_user)
    # The lease alone decides: it is freed with the final run row, so a client that saw the
    # previous run finish can start the next one at once.
    try:
        job = await start_sync(
            sessionmaker,
            settings,
            email=email,
            full=body.full,
            client_factory=factory,
            observer=getattr(app.state, "sync_observer", None),
        )
    except GmailNotConfigured as exc:
        raise ServiceUnavailable(str(exc)) from None
    except MailboxNotConfigured as exc:
        raise Unprocessable(
            str(exc), details={"mailbox": exc.email, "configured_mailboxes": exc.configured}
        ) from None
    except MailboxKindConflict as exc:
        raise Conflict(
            str(exc), details={"mailbox": exc.email, "provider": exc.provider.value}
        ) from None
    except LeaseHeld as exc:
        raise Conflict(
            f"a sync of {email} is already running",
            details={"mailbox": email, "lease_owner": exc.owner},
        ) from None
    task = asyncio.create_task(job.execute(), name=f"sync-{email}")
    tasks[email] = task
    task.add_done_callback(lambda t: _forget(tasks, email, t))
    async with sessionmaker() as session:
        run = await session.get(EmailIngestRun, job.run_id)
        assert run is not None
        return _run_out(run, email)


def sync_tasks(app: FastAPI) -> dict[str, asyncio.Task[Any]]:
    """The background sync tasks of this app, by mailbox email."""
    tasks: dict[str, asyncio.Task[Any]] | None = getattr(app.state, "sync_tasks", None)
    if tasks is None:
        tasks = {}
        app.state.sync_tasks = tasks
    return tasks


def _forget(tasks: dict[str, asyncio.Task[Any]], email: str, task: asyncio.Task[Any]) -> None:
    if tasks.get(email) is task:
        del tasks[email]
    if not task.cancelled() and task.exception() is not None:
        log.error("background sync of %s crashed", email, exc_info=task.exception())


async def stop_sync_tasks(app: FastAPI) -> None:
    """Cancel background syncs (app shutdown); each closes its run as failed and frees its lease."""
    tasks = list(sync_tasks(app).values())
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
