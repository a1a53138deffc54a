"""Where the generator's choices come from: Hypothesis draws (tests) or a seeded Random (bench).

The generator is written once against `Chooser`; the tests get shrinking from Hypothesis, the
benchmark gets an even spread over 10,000 mails from `random.Random`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")


class Chooser(Protocol):
    def pick(self, options: Sequence[T]) -> T:
        """One of `options`."""
        ...

    def number(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        ...

    def chance(self, percent: int) -> bool:
        """True about `percent` times in 100 (Hypothesis shrinks towards False)."""
        ...

    def order(self, items: Sequence[T]) -> list[T]:
        """The items in a random order."""
        ...


class RandomChooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def number(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def chance(self, percent: int) -> bool:
        return self.rng.randrange(100) < percent

    def order(self, items: Sequence[T]) -> list[T]:
        shuffled = list(items)
        self.rng.shuffle(shuffled)
        return shuffled


class DrawChooser:
    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self.draw = draw

    def pick(self, options: Sequence[T]) -> T:
        value: T = self.draw(st.sampled_from(options))
        return value

    def number(self, low: int, high: int) -> int:
        value: int = self.draw(st.integers(low, high))
        return value

    def chance(self, percent: int) -> bool:
        return bool(self.draw(st.integers(0, 99)) >= 100 - percent)

    def order(self, items: Sequence[T]) -> list[T]:
        if len(items) < 2:
            return list(items)
        value: list[T] = self.draw(st.permutations(items))
        return value


def subset(c: Chooser, items: Sequence[T], percent: int) -> list[T]:
    """Each item kept about `percent` times in 100, in a random order."""
    return c.order([item for item in items if c.chance(percent)])
