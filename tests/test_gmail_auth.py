"""Gmail credentials: both Google file types against the fake token endpoint; the consent file."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from leadflow.sync.gmail import GmailAuthError, GmailClient, GmailError
from leadflow.sync.gmail.auth import (
    GMAIL_READONLY_SCOPE,
    load_credentials,
    run_authorize_flow,
)
from tests.fakes.clock import FakeClock
from tests.fakes.fixtures import FAKE_GMAIL_BASE
from tests.fakes.gmail import FakeMailbox

BASE = FAKE_GMAIL_BASE
SA_EMAIL = "leadflow-sync@rendetalje-test.iam.gserviceaccount.com"


def write_json(path: Path, info: dict[str, Any]) -> Path:
    path.write_text(json.dumps(info), encoding="utf-8")
    return path


@pytest.fixture
def user_file(tmp_path: Path, mailbox: FakeMailbox) -> Path:
    mailbox.tokens.register_authorized_user("client-123", "client-secret-xyz", "refresh-abc")
    info = {
        "type": "authorized_user",
        "client_id": "client-123",
        "client_secret": "client-secret-xyz",
        "refresh_token": "refresh-abc",
        "token_uri": f"{BASE}/token",
    }
    return write_json(tmp_path / "user.json", info)


def rsa_key() -> tuple[str, str]:
    """A fresh (private PEM, public PEM) pair for a test service account."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def service_account_file(path: Path, private_pem: str) -> Path:
    info = {
        "type": "service_account",
        "project_id": "rendetalje-test",
        "private_key_id": "key-1",
        "private_key": private_pem,
        "client_email": SA_EMAIL,
        "client_id": "1234567890",
        "token_uri": f"{BASE}/token",
    }
    return write_json(path, info)


async def test_an_authorized_user_file_gets_tokens_from_its_token_uri(
    user_file: Path, mailbox: FakeMailbox, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    tokens = load_credentials(user_file, user=mailbox.email, http=http)
    gmail = GmailClient(
        base_url=BASE, user=mailbox.email, http=http, credentials=tokens, clock=clock
    )

    profile = await gmail.get_profile()
    await gmail.get_profile()

    assert profile["emailAddress"] == mailbox.email
    assert mailbox.calls["token"] == 1  # cached between calls
    assert mailbox.tokens.scopes_of(await tokens.token()) == {GMAIL_READONLY_SCOPE}


async def test_a_token_is_renewed_shortly_before_it_expires(
    user_file: Path, mailbox: FakeMailbox, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    tokens = load_credentials(user_file, user=mailbox.email, http=http, now=clock.now)
    first = await tokens.token()

    clock.advance(mailbox.tokens.lifetime - 600)
    assert await tokens.token() == first
    clock.advance(400)  # within five minutes of expiry
    second = await tokens.token()

    assert second != first
    assert mailbox.calls["token"] == 2


async def test_concurrent_refreshes_share_one_token_request(
    user_file: Path, mailbox: FakeMailbox
) -> None:
    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        for _ in range(10):  # yield, as a network round trip would, so the callers overlap
            await asyncio.sleep(0)
        await mailbox.app(scope, receive, send)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=slow_app)) as http:
        tokens = load_credentials(user_file, user=mailbox.email, http=http)
        got = await asyncio.gather(*(tokens.refresh() for _ in range(5)))
        again = await tokens.refresh()

    assert len(set(got)) == 1
    assert again not in got  # a later, separate refresh does fetch a new token
    assert mailbox.calls["token"] == 2


async def test_a_revoked_refresh_token_raises_auth_error_without_secrets(
    tmp_path: Path, mailbox: FakeMailbox, http: httpx.AsyncClient
) -> None:
    info = {
        "type": "authorized_user",
        "client_id": "client-123",
        "client_secret": "client-secret-xyz",
        "refresh_token": "refresh-revoked",
        "token_uri": f"{BASE}/token",
    }
    tokens = load_credentials(write_json(tmp_path / "u.json", info), user="me", http=http)

    with pytest.raises(GmailAuthError, match="invalid_grant") as caught:
        await tokens.token()

    assert caught.value.permanent
    assert "leadflow gmail authorize" in caught.value.message
    assert "refresh-revoked" not in str(caught.value)
    assert "client-secret-xyz" not in str(caught.value)


async def test_a_failing_token_endpoint_is_a_transient_error(
    user_file: Path, mailbox: FakeMailbox
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="unavailable")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        tokens = load_credentials(user_file, user=mailbox.email, http=http)
        with pytest.raises(GmailError) as caught:
            await tokens.token()

    assert not caught.value.permanent


async def test_a_service_account_signs_a_delegated_jwt_for_the_mailbox_user(
    tmp_path: Path, mailbox: FakeMailbox, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    private, public = rsa_key()
    mailbox.tokens.register_service_account(SA_EMAIL, public)
    path = service_account_file(tmp_path / "sa.json", private)
    tokens = load_credentials(path, user=mailbox.email, http=http)
    gmail = GmailClient(
        base_url=BASE, user=mailbox.email, http=http, credentials=tokens, clock=clock
    )

    profile = await gmail.get_profile()

    assert profile["emailAddress"] == mailbox.email
    assert mailbox.calls["token"] == 1
    assert mailbox.tokens.scopes_of(await tokens.token()) == {GMAIL_READONLY_SCOPE}


async def test_a_service_account_without_delegation_is_refused(
    tmp_path: Path, mailbox: FakeMailbox, http: httpx.AsyncClient
) -> None:
    private, public = rsa_key()
    mailbox.tokens.register_service_account(SA_EMAIL, public, delegated=False)
    tokens = load_credentials(
        service_account_file(tmp_path / "sa.json", private), user="x", http=http
    )

    with pytest.raises(GmailAuthError, match="unauthorized_client"):
        await tokens.token()


async def test_a_jwt_signed_with_another_key_is_refused(
    tmp_path: Path, mailbox: FakeMailbox, http: httpx.AsyncClient
) -> None:
    _, registered = rsa_key()
    other, _ = rsa_key()
    mailbox.tokens.register_service_account(SA_EMAIL, registered)
    path = service_account_file(tmp_path / "sa.json", other)
    tokens = load_credentials(path, user=mailbox.email, http=http)

    with pytest.raises(GmailAuthError, match="invalid_grant"):
        await tokens.token()


def test_a_file_of_an_unknown_type_is_refused(tmp_path: Path) -> None:
    path = write_json(tmp_path / "x.json", {"type": "external_account"})

    with pytest.raises(GmailAuthError, match="external_account"):
        load_credentials(path, user="me")


def test_an_incomplete_file_is_refused_without_echoing_the_secret(tmp_path: Path) -> None:
    info = {"type": "authorized_user", "client_id": "c", "client_secret": "s3cr3t-value"}
    path = write_json(tmp_path / "x.json", info)

    with pytest.raises(GmailAuthError, match="refresh_token") as caught:
        load_credentials(path, user="me")

    assert "s3cr3t-value" not in str(caught.value)


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(GmailAuthError, match="cannot read"):
        load_credentials(tmp_path / "nope.json", user="me")


class FakeFlow:
    """Stands in for InstalledAppFlow: no browser, a fixed consent result."""

    def __init__(self, refresh_token: str | None) -> None:
        self.refresh_token = refresh_token
        self.kwargs: dict[str, Any] = {}
        self.scopes: list[str] = []

    def factory(self, client_secrets: Path, scopes: list[str]) -> FakeFlow:
        self.scopes = scopes
        return self

    def run_local_server(self, **kwargs: Any) -> SimpleNamespace:
        self.kwargs = kwargs
        return SimpleNamespace(
            client_id="client-123",
            client_secret="client-secret-xyz",
            refresh_token=self.refresh_token,
            token_uri="https://oauth2.googleapis.com/token",
        )


def test_authorize_writes_an_owner_only_authorized_user_file(tmp_path: Path) -> None:
    flow = FakeFlow("refresh-new")
    output = tmp_path / "secrets" / "gmail.json"

    run_authorize_flow(tmp_path / "client.json", output, flow_factory=flow.factory)

    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert json.loads(output.read_text()) == {
        "type": "authorized_user",
        "client_id": "client-123",
        "client_secret": "client-secret-xyz",
        "refresh_token": "refresh-new",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    assert flow.scopes == [GMAIL_READONLY_SCOPE]
    assert flow.kwargs["access_type"] == "offline"
    assert list(output.parent.iterdir()) == [output]


def test_authorize_replaces_a_world_readable_file_with_an_owner_only_one(tmp_path: Path) -> None:
    output = tmp_path / "gmail.json"
    output.write_text("{}")
    output.chmod(0o644)

    run_authorize_flow(tmp_path / "c.json", output, flow_factory=FakeFlow("r").factory)

    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert json.loads(output.read_text())["refresh_token"] == "r"


def test_authorize_without_a_refresh_token_writes_nothing(tmp_path: Path) -> None:
    output = tmp_path / "gmail.json"

    with pytest.raises(GmailAuthError, match="no refresh token"):
        run_authorize_flow(tmp_path / "c.json", output, flow_factory=FakeFlow(None).factory)

    assert not output.exists()
