"""The fake's OAuth side: a token endpoint for refresh-token and JWT-bearer grants."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from google.auth import exceptions as google_exceptions
from google.auth import jwt

READONLY_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class AuthorizedUser:
    client_id: str
    client_secret: str
    refresh_token: str
    scopes: frozenset[str]


@dataclass
class ServiceAccount:
    client_email: str
    public_key_pem: str
    delegated: bool  # domain-wide delegation granted for the mailbox user


class TokenIssuer:
    """Issues access tokens with a lifetime on the fake's clock and checks them."""

    def __init__(self, *, email: str, now: Callable[[], float], lifetime: int = 3600) -> None:
        self.email = email
        self.lifetime = lifetime
        self._now = now
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self._users: dict[str, AuthorizedUser] = {}
        self._service_accounts: dict[str, ServiceAccount] = {}
        self.granted = 0  # tokens handed out by the endpoint

    def register_authorized_user(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        scopes: frozenset[str] = frozenset({READONLY_SCOPE}),
    ) -> None:
        self._users[refresh_token] = AuthorizedUser(client_id, client_secret, refresh_token, scopes)

    def register_service_account(
        self, client_email: str, public_key_pem: str, *, delegated: bool = True
    ) -> None:
        self._service_accounts[client_email] = ServiceAccount(
            client_email, public_key_pem, delegated
        )

    def issue(self, scopes: frozenset[str] = frozenset({READONLY_SCOPE})) -> str:
        """A fresh access token valid for `lifetime` seconds of the fake's clock."""
        token = f"ya29.fake-{secrets.token_urlsafe(12)}"
        self._tokens[token] = (self._now() + self.lifetime, scopes)
        return token

    def revoke_all(self) -> None:
        self._tokens.clear()

    def scopes_of(self, token: str) -> frozenset[str] | None:
        """The token's scopes, or None when it is unknown or expired."""
        entry = self._tokens.get(token)
        if entry is None or self._now() >= entry[0]:
            return None
        return entry[1]

    def grant(self, form_text: str, url: str) -> tuple[int, dict[str, Any]]:
        """Answer a POST to the token endpoint: (status, JSON body)."""
        form = {key: values[0] for key, values in parse_qs(form_text).items()}
        grant_type = form.get("grant_type")
        if grant_type == "refresh_token":
            user = self._users.get(form.get("refresh_token", ""))
            if user is None:
                return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
            if (form.get("client_id"), form.get("client_secret")) != (
                user.client_id,
                user.client_secret,
            ):
                return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
            return 200, self._answer(user.scopes)
        if grant_type == JWT_BEARER:
            return self._jwt_grant(form.get("assertion", ""), url)
        return 400, {"error": "unsupported_grant_type", "error_description": str(grant_type)}

    def _jwt_grant(self, assertion: str, url: str) -> tuple[int, dict[str, Any]]:
        invalid = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        try:
            claims = jwt.decode(assertion, verify=False)  # type: ignore[no-untyped-call]
            account = self._service_accounts.get(str(claims.get("iss")))
            if account is None:
                return 400, invalid
            claims = jwt.decode(assertion, certs=account.public_key_pem, audience=url)  # type: ignore[no-untyped-call]
        except (ValueError, google_exceptions.GoogleAuthError):
            return 400, invalid
        if claims.get("sub") not in (None, self.email) or not account.delegated:
            return 401, {
                "error": "unauthorized_client",
                "error_description": "Client is unauthorized to retrieve access tokens using "
                "this method, or client not authorized for any of the scopes requested.",
            }
        return 200, self._answer(frozenset(str(claims.get("scope", "")).split()))

    def _answer(self, scopes: frozenset[str]) -> dict[str, Any]:
        self.granted += 1
        return {
            "access_token": self.issue(scopes),
            "expires_in": self.lifetime,
            "token_type": "Bearer",
            "scope": " ".join(sorted(scopes)),
        }


class IssuerTokens:
    """A TokenProvider taking tokens straight from the fake's issuer (no token endpoint)."""

    def __init__(
        self, issuer: TokenIssuer, scopes: frozenset[str] = frozenset({READONLY_SCOPE})
    ) -> None:
        self._issuer = issuer
        self._scopes = scopes
        self._token: str | None = None
        self.refreshes = 0

    async def token(self) -> str:
        if self._token is None:
            self._token = self._issuer.issue(self._scopes)
        return self._token

    async def refresh(self) -> str:
        self.refreshes += 1
        self._token = self._issuer.issue(self._scopes)
        return self._token
