"""Fakes of outside services, written for leadflow's tests (see each module's docstring)."""

from tests.fakes.clock import FakeClock
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_wire import Fault, make_raw_email

__all__ = ["FakeClock", "FakeMailbox", "Fault", "make_raw_email"]
