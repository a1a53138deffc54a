"""Browser tests' helpers: Debian's Chromium driven by Playwright, and what a page must not do.

Playwright's own browser downloads are never used: `launch(executable_path=/usr/bin/chromium)`.
Without that binary the browser tests skip locally and fail under CI=true (`.ci/run` installs
it with apt).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import ConsoleMessage, Page, Request, Response

from tests.conftest import API_TOKEN

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}


@dataclass
class PageProblems:
    """Console errors, uncaught exceptions, failed requests and error answers seen by a page."""

    console: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> PageProblems:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.exceptions.append(str(error)))
        page.on("requestfailed", self._on_failed)
        page.on("response", self._on_response)
        return self

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type in {"error", "warning"}:
            self.console.append(f"{message.type}: {message.text}")

    def _on_failed(self, request: Request) -> None:
        # A request the page itself dropped by navigating on (a click before the icon loaded)
        # is no failure of the server's.
        if request.failure and "ERR_ABORTED" in request.failure:
            return
        self.failed.append(f"{request.method} {request.url}: {request.failure}")

    def expect_refusal(self) -> None:
        """Forget the error answer a test caused on purpose (Chromium logs it as well)."""
        self.answers.clear()
        self.console[:] = [c for c in self.console if "Failed to load resource" not in c]

    def _on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.answers.append(f"{response.request.method} {response.url}: {response.status}")

    @property
    def all(self) -> list[str]:
        return [*self.console, *self.exceptions, *self.failed, *self.answers]


async def log_in(page: Page, base_url: str) -> None:
    """Log in through the form, by keyboard: type the token, press Enter."""
    await page.goto(f"{base_url}/dashboard/login")
    await page.get_by_label(re.compile("API-nøgle|API token")).fill(API_TOKEN)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{base_url}/dashboard")


async def has_no_horizontal_scroll(page: Page) -> bool:
    width: int = await page.evaluate("document.documentElement.scrollWidth")
    viewport: int = await page.evaluate("document.documentElement.clientWidth")
    return width <= viewport


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def visit_at_every_size(page: Page, base_url: str, pages: dict[str, str]) -> None:
    """Open each named path at desk and phone size: 200, no sideways scroll, a screenshot each."""
    for name, path in pages.items():
        for size_name, size in (("desk", DESK), ("phone", PHONE)):
            await page.set_viewport_size(size)  # type: ignore[arg-type]
            answer = await page.goto(base_url + path, wait_until="networkidle")
            assert answer is not None
            assert answer.status == 200, path
            assert await has_no_horizontal_scroll(page), f"{path} scrolls sideways at {size}"
            await screenshot(page, f"{name}-{size_name}")
