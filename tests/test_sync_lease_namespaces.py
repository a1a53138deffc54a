"""A live lease holder in another PID namespace on the same host is never judged dead.

A container that shares the host's name but has its own PID namespace used to make the other
side's `kill(pid, 0)` look up the holder's pid in the wrong namespace. Here the holder is a
real process started with `unshare --user --map-root-user --pid --fork`, its pid chosen (via
ns_last_pid) to be one that does not exist in the test's namespace.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.models import Mailbox, MailProvider
from leadflow.sync.lease import LeaseHeld, MailboxLease
from leadflow.sync.mailboxes import ensure_mailbox
from tests.sync_helpers import GMAIL_USER

REPO = Path(__file__).resolve().parents[1]

HOLDER = """
import asyncio, os, sys
from leadflow.db import create_engine, create_sessionmaker
from leadflow.settings import Settings
from leadflow.sync.lease import MailboxLease

async def main() -> None:
    engine = create_engine(Settings(_env_file=None, database_url=sys.argv[1]))
    lease = await MailboxLease.acquire(
        create_sessionmaker(engine), mailbox_id=int(sys.argv[2]), email="x"
    )
    print("held", os.getpid(), lease.owner, flush=True)
    await asyncio.to_thread(sys.stdin.read)  # hold (and renew) until the test closes stdin
    await lease.release()
    await engine.dispose()

asyncio.run(main())
"""


def free_pid() -> int:
    """A pid that no process of this namespace has."""
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    for pid in range(pid_max - 1000, pid_max - 10):
        if not Path(f"/proc/{pid}").exists():
            return pid
    raise AssertionError("no free pid found")


UNSHARE = shutil.which("unshare")
# A user namespace too, so that creating the PID namespace and writing ns_last_pid in it need
# no privileges outside.
NEW_PID_NAMESPACE = ["--user", "--map-root-user", "--pid", "--fork", "--mount-proc"]


def namespaces_available() -> bool:
    if UNSHARE is None or not Path("/proc/self/ns/pid").exists():
        return False
    command = [UNSHARE, *NEW_PID_NAMESPACE, "true"]
    probe = subprocess.run(command, capture_output=True, check=False)  # noqa: S603 - our own
    return probe.returncode == 0


def start_holder(
    pid: int, database_url: str, mailbox_id: int, log: Path
) -> subprocess.Popen[bytes]:
    """Run HOLDER as `pid` inside a new PID namespace (ns_last_pid picks the next pid)."""
    assert UNSHARE is not None
    script = (
        f"echo {pid - 1} > /proc/sys/kernel/ns_last_pid && "
        f"{sys.executable} -c '{HOLDER}' {database_url} {mailbox_id}"
    )
    with log.open("wb") as errors:
        return subprocess.Popen(  # noqa: S603 - every argument is the test's own
            [UNSHARE, *NEW_PID_NAMESPACE, "sh", "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            cwd=REPO,
            env={k: v for k, v in os.environ.items() if not k.startswith("LEADFLOW_")},
        )


def pid_exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def lease_owner(sessionmaker: async_sessionmaker[AsyncSession], mailbox_id: int) -> str:
    async with sessionmaker() as session:
        owner = await session.scalar(select(Mailbox.lease_owner).where(Mailbox.id == mailbox_id))
    assert owner is not None
    return owner


@pytest.mark.skipif(not namespaces_available(), reason="cannot create a PID namespace here")
async def test_a_live_holder_in_another_pid_namespace_keeps_its_lease(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str, tmp_path: Path
) -> None:
    box = await ensure_mailbox(sessionmaker, email=GMAIL_USER, provider=MailProvider.GMAIL)
    pid = free_pid()
    errors = tmp_path / "holder.log"
    holder = start_holder(pid, database_url, box.id, errors)
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        line = (await asyncio.to_thread(holder.stdout.readline)).decode().split()
        assert line[:2] == ["held", str(pid)], errors.read_text()
        owner = line[2]
        assert owner.split(":")[:2] == [os.uname().nodename, str(pid)]
        assert not pid_exists(pid)  # no such pid on our side of the namespace boundary

        with pytest.raises(LeaseHeld):
            await MailboxLease.acquire(sessionmaker, mailbox_id=box.id, email=box.email)

        assert await lease_owner(sessionmaker, box.id) == owner
    finally:
        holder.stdin.close()
        await asyncio.to_thread(holder.wait, 30)
        holder.stdout.close()
    assert holder.returncode == 0, errors.read_text()
