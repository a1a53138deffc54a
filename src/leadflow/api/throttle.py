"""Wrong tokens slow a guesser down: a client that sends too many is refused for a while.

The API's bearer token is also the dashboard's password, and nothing stops a deployment from
choosing a short one, so every wrong token counts against the address it came from: after
`LEADFLOW_AUTH_FAILURE_LIMIT` wrong tokens within `LEADFLOW_AUTH_FAILURE_WINDOW_SECONDS`, that
address gets 429 (with `Retry-After`) on every /api request and every login that carries a
token until the oldest of those failures leaves the window. A right token is refused too while
the address is held: otherwise a guesser would still learn which guess was right. A request
without any token is no guess: it is not counted, and is answered 401 as ever, held or not.

The metrics token and the web-hook secret are throttled the same way, each with its own counts
(`secret_matches`): a scraper with a stale metrics token locks out only its own scrapes, not the
dashboard's user on the same host.

The count lives in the process's memory (one per `serve` worker, so with N workers an address
gets up to N × the limit) and forgets the least recently seen address beyond `max_clients`.
The address is the one uvicorn reports: behind a reverse proxy it is the `X-Forwarded-For`
one only when the proxy is trusted (uvicorn's `FORWARDED_ALLOW_IPS`, default loopback). An IPv6
client counts by its /64 network (`client_network`).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from pydantic import SecretStr
from starlette.types import Scope

from leadflow.errors import TooManyAttempts

log = logging.getLogger(__name__)


def client_network(scope: Scope) -> str:
    """What the throttle counts a request's failures against: the client's IPv4 address, or the
    /64 network of an IPv6 one ("unknown" when the server saw no client address).

    An IPv6 subscriber is given a whole /64 (often more) and may send from any address in it,
    so counting single IPv6 addresses would let one client guess on and on from fresh ones.
    An IPv4-mapped IPv6 address counts as its IPv4 address.
    """
    client = scope.get("client")
    if not client:
        return "unknown"
    address = str(client[0])
    try:
        ip = ipaddress.ip_address(address.partition("%")[0])  # without a zone (fe80::1%eth0)
    except ValueError:
        return address  # not an IP (a test client, a Unix socket's peer name)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class AuthThrottle:
    """Failures per address in a sliding window; no awaits, so racing requests count exactly."""

    def __init__(
        self,
        *,
        limit: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
        guessed: str = "API token",
    ) -> None:
        self.guessed = guessed  # what is being guessed, for the log
        self.limit = limit
        self.window = window_seconds
        self.max_clients = max_clients
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until `address` may try again, or None when it is not held."""
        now = self._clock()
        failures = self._recent(address, now)
        if failures is None or len(failures) < self.limit:
            return None
        # Held until enough failures leave the window to bring the count under the limit.
        release = failures[len(failures) - self.limit] + self.window
        return max(1, math.ceil(release - now))

    def failed(self, address: str) -> None:
        """Count one wrong token from `address`."""
        now = self._clock()
        failures = self._recent(address, now)
        if failures is None:
            failures = self._failures[address] = deque()
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(address)
        failures.append(now)
        if len(failures) == self.limit:
            log.warning(
                "%d wrong %s guesses from %s within %g s: refusing it until they age out",
                self.limit,
                self.guessed,
                address,
                self.window,
            )
        # Nothing older than the window matters, and no more than `limit` failures decide.
        while len(failures) > self.limit:
            failures.popleft()

    def __len__(self) -> int:
        return len(self._failures)


def secret_matches(
    throttle: AuthThrottle, scope: Scope, given: str, expected: SecretStr | None
) -> bool:
    """Whether `given` is the secret `expected` (None: no secret is configured, nothing
    matches), counted by `throttle`: while the client's network is held this raises
    `TooManyAttempts` (even for the right secret, so a guesser does not learn which guess was
    right), and a wrong secret counts against it. The API's middleware, the dashboard's login,
    the metrics token and the web-hook secret all judge through here."""
    address = client_network(scope)
    wait = throttle.retry_after(address)
    if wait is not None:
        raise TooManyAttempts(wait)
    if expected is not None and secrets.compare_digest(
        given.encode(), expected.get_secret_value().encode()
    ):
        return True
    throttle.failed(address)
    return False
