"""Gmail credentials from a Google JSON file, refreshed asynchronously; the consent flow.

google-auth parses and validates the files and signs service-account JWTs, but its refresh is
synchronous and runs through `requests` (not a dependency of ours; blocking; outside our httpx
timeouts and transports, so an in-process test server could not answer it). We therefore POST
to the file's token_uri ourselves with httpx — the grant bodies are plain OAuth 2.0 (RFC 6749
refresh_token, RFC 7523 JWT bearer) — using only public google-auth APIs (`jwt.encode` with the
credentials' `signer`).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx
from google.auth import jwt
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from leadflow.sync.gmail.errors import GmailAuthError, GmailError, classify
from leadflow.sync.gmail.stats import TokenProvider

GMAIL_READONLY_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL, not a secret)
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Refresh this long before expiry so a token never runs out between check and use.
EXPIRY_MARGIN_SECONDS = 300.0
ASSERTION_LIFETIME_SECONDS = 3600

Now = Callable[[], float]


class OAuthTokenProvider:
    """Caches an access token from `token_uri`; subclasses supply the grant."""

    def __init__(
        self, *, token_uri: str, http: httpx.AsyncClient | None, now: Now = time.monotonic
    ) -> None:
        self.token_uri = token_uri
        self._http = http
        self._now = now
        self._token: str | None = None
        self._expires_at = 0.0
        self._generation = 0
        self._lock = asyncio.Lock()

    def _grant(self) -> dict[str, str]:
        raise NotImplementedError

    async def token(self) -> str:
        """Return the cached token, fetching a new one when none is left or it nearly expired."""
        if self._token is not None and self._now() < self._expires_at - EXPIRY_MARGIN_SECONDS:
            return self._token
        return await self.refresh()

    async def refresh(self) -> str:
        """Fetch a new token; concurrent callers share one request instead of each sending one."""
        seen = self._generation
        async with self._lock:
            if self._generation != seen and self._token is not None:
                return self._token
            body = await self._post(self._grant())
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                raise GmailAuthError("token endpoint answered without an access_token")
            expires_in = body.get("expires_in", 3600)
            lifetime = float(expires_in) if isinstance(expires_in, int | float | str) else 3600.0
            self._token = token
            self._expires_at = self._now() + lifetime
            self._generation += 1
            return token

    async def _post(self, form: dict[str, str]) -> dict[str, Any]:
        try:
            if self._http is not None:
                response = await self._http.post(self.token_uri, data=form)
            else:
                async with httpx.AsyncClient(timeout=30.0) as http:
                    response = await http.post(self.token_uri, data=form)
        except httpx.HTTPError as exc:
            raise classify(None, None, exc) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict):
            return body
        if response.status_code in {400, 401, 403} and isinstance(body, dict):
            # OAuth error codes (invalid_grant, unauthorized_client, ...) carry no secrets.
            code = body.get("error", "unknown_error")
            raise GmailAuthError(
                f"token endpoint refused the credentials ({response.status_code} {code}); "
                "re-authorise with `leadflow gmail authorize` or check the service account "
                "and its domain-wide delegation",
                status=response.status_code,
                reason=str(code),
            )
        error = classify(response.status_code, None, None, headers=response.headers)
        raise GmailError(
            f"token endpoint failed (HTTP {response.status_code})",
            status=response.status_code,
            reason="tokenEndpoint",
            permanent=error.permanent,
            retry_after=error.retry_after,
        )


class AuthorizedUserTokens(OAuthTokenProvider):
    """Tokens for an `authorized_user` file (refresh-token grant)."""

    def __init__(
        self, creds: user_credentials.Credentials, *, http: httpx.AsyncClient | None, now: Now
    ) -> None:
        super().__init__(token_uri=creds.token_uri, http=http, now=now)
        self._creds = creds

    def _grant(self) -> dict[str, str]:
        return {
            "grant_type": "refresh_token",
            "client_id": self._creds.client_id,
            "client_secret": self._creds.client_secret,
            "refresh_token": self._creds.refresh_token,
        }


class ServiceAccountTokens(OAuthTokenProvider):
    """Tokens for a service account acting as `subject` (domain-wide delegation)."""

    def __init__(
        self,
        creds: service_account.Credentials,
        *,
        token_uri: str,
        subject: str,
        http: httpx.AsyncClient | None,
        now: Now,
    ) -> None:
        super().__init__(token_uri=token_uri, http=http, now=now)
        self._creds = creds
        self._subject = subject

    def _grant(self) -> dict[str, str]:
        return {"grant_type": JWT_BEARER_GRANT, "assertion": self.assertion()}

    def assertion(self) -> str:
        """A signed JWT asking token_uri for a gmail.readonly token on behalf of the subject."""
        issued = int(time.time())
        payload = {
            "iss": self._creds.service_account_email,
            "sub": self._subject,
            "scope": GMAIL_READONLY_SCOPE,
            "aud": self.token_uri,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME_SECONDS,
        }
        signed: bytes = jwt.encode(self._creds.signer, payload)  # type: ignore[no-untyped-call]
        return signed.decode("ascii")


def load_credentials(
    path: Path, *, user: str, http: httpx.AsyncClient | None = None, now: Now = time.monotonic
) -> TokenProvider:
    """Read a service_account or authorized_user JSON file; tokens come from its token_uri."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GmailAuthError(f"cannot read Gmail credentials file {path}: {exc}") from None
    if not isinstance(info, dict):
        raise GmailAuthError(f"Gmail credentials file {path} is not a JSON object")
    kind = info.get("type")
    try:
        if kind == "service_account":
            sa = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=[GMAIL_READONLY_SCOPE], subject=user
            )
            return ServiceAccountTokens(
                sa, token_uri=str(info["token_uri"]), subject=user, http=http, now=now
            )
        if kind == "authorized_user":
            return AuthorizedUserTokens(_authorized_user(info), http=http, now=now)
    except (KeyError, ValueError) as exc:
        # Never echo the file's content: it holds the secret. Name the problem only.
        detail = f"missing {exc.args[0]}" if isinstance(exc, KeyError) else str(exc)[:200]
        raise GmailAuthError(
            f"Gmail credentials file {path} is incomplete or invalid ({detail})"
        ) from None
    raise GmailAuthError(
        f"Gmail credentials file {path} has type {kind!r}; "
        "expected 'service_account' or 'authorized_user'"
    )


def _authorized_user(info: Mapping[str, Any]) -> user_credentials.Credentials:
    # from_authorized_user_info ignores the file's token_uri; pass it explicitly.
    return user_credentials.Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=str(info["refresh_token"]),
        client_id=str(info["client_id"]),
        client_secret=str(info["client_secret"]),
        token_uri=str(info.get("token_uri") or GOOGLE_TOKEN_URI),
        scopes=[GMAIL_READONLY_SCOPE],
    )


class ConsentFlow(Protocol):
    """The part of google_auth_oauthlib's InstalledAppFlow that we use."""

    def run_local_server(self, **kwargs: Any) -> Any: ...


FlowFactory = Callable[[Path, list[str]], ConsentFlow]


def _installed_app_flow(client_secrets: Path, scopes: list[str]) -> ConsentFlow:
    from google_auth_oauthlib.flow import InstalledAppFlow

    flow: ConsentFlow = InstalledAppFlow.from_client_secrets_file(str(client_secrets), scopes)
    return flow


def run_authorize_flow(
    client_secrets: Path, output: Path, *, flow_factory: FlowFactory = _installed_app_flow
) -> None:
    """Run the installed-app consent flow (opens a browser) and write an authorized_user file.

    The file holds a refresh token, so it is created with mode 0600 and replaced atomically.
    """
    flow = flow_factory(client_secrets, [GMAIL_READONLY_SCOPE])
    # offline + consent: Google only returns a refresh token when both are asked for.
    creds = flow.run_local_server(port=0, access_type="offline", prompt="consent")
    refresh_token = getattr(creds, "refresh_token", None)
    if not refresh_token:
        raise GmailAuthError("the consent flow returned no refresh token; run it again")
    write_authorized_user_file(
        output,
        {
            "type": "authorized_user",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "refresh_token": refresh_token,
            "token_uri": getattr(creds, "token_uri", None) or GOOGLE_TOKEN_URI,
        },
    )


def write_authorized_user_file(output: Path, info: Mapping[str, Any]) -> None:
    """Write `info` as JSON readable by the owner only (0600), atomically replacing `output`."""
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(info), handle, indent=2)
            handle.write("\n")
        os.replace(temporary, output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
