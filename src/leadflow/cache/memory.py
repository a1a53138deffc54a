"""The in-memory tier: a bounded LRU with per-entry expiry and a tag index.

It is the whole cache when no Redis is configured, a near cache in front of Redis while Redis
answers (entries marked `near`, copies of what Redis holds, dropped when another process
invalidates them), and the fallback while Redis does not answer. Plain synchronous code: every
call finishes without yielding to the event loop, so no lock is needed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from leadflow.cache.clock import Clock
from leadflow.cache.envelope import Packed

_MAX_TAG_EPOCHS = 100_000


@dataclass(slots=True)
class MemoryEntry:
    packed: Packed
    expires_at: float
    schema: str
    tags: frozenset[str]
    near: bool  # a copy of a Redis entry (True) or a value only this process holds (False)


class MemoryTier:
    """At most `max_items` entries; the least recently used goes first, expired ones on sight."""

    def __init__(self, *, max_items: int, clock: Clock) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self.max_items = max_items
        self._clock = clock
        self._entries: OrderedDict[str, MemoryEntry] = OrderedDict()
        self._by_tag: dict[str, set[str]] = {}
        self.evictions = 0
        self.expirations = 0
        # A value loaded while an invalidation touched it may be stale: whoever loads takes a
        # stamp before and compares after, and keeps a changed one out of memory. `changes`
        # counts every invalidation (the coarse check for a Redis round trip); the stamp of a
        # load counts only those that can affect its tags (loads take long: a write to one
        # customer must not keep every other view out of the cache).
        self.changes = 0
        self._global_epoch = 0
        self._tag_epochs: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def stamp(self, tags: frozenset[str]) -> tuple[int, ...]:
        """Changes whenever an invalidation could have dropped a value carrying `tags`."""
        return (self._global_epoch, *(self._tag_epochs.get(tag, 0) for tag in sorted(tags)))

    def __contains__(self, key: str) -> bool:
        return self.get(key, touch=False) is not None

    def get(self, key: str, *, touch: bool = True) -> MemoryEntry | None:
        """The live entry under `key` (marked most recently used), or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self._clock.now():
            self._remove(key)
            self.expirations += 1
            return None
        if touch:
            self._entries.move_to_end(key)
        return entry

    def set(self, key: str, entry: MemoryEntry) -> None:
        if entry.expires_at <= self._clock.now():
            self.delete(key)
            return
        if key in self._entries:
            self._remove(key)
        self._entries[key] = entry
        for tag in entry.tags:
            self._by_tag.setdefault(tag, set()).add(key)
        while len(self._entries) > self.max_items:
            oldest = next(iter(self._entries))
            self._remove(oldest)
            self.evictions += 1

    def delete(self, key: str) -> bool:
        if key not in self._entries:
            return False
        self._remove(key)
        return True

    def invalidate(
        self, *, keys: Iterable[str] = (), tags: Iterable[str] = (), prefixes: Iterable[str] = ()
    ) -> int:
        """Drop the entries named, tagged or prefixed as given; count them."""
        self.changes += 1
        doomed = set(keys)
        prefixes = tuple(prefixes)
        if doomed or prefixes:
            self._global_epoch += 1
        for tag in tags:
            self._bump(tag)
            doomed.update(self._by_tag.get(tag, ()))
        if prefixes:
            doomed.update(key for key in self._entries if key.startswith(prefixes))
        return sum(self.delete(key) for key in doomed)

    def _bump(self, tag: str) -> None:
        if len(self._tag_epochs) >= _MAX_TAG_EPOCHS and tag not in self._tag_epochs:
            # Forgetting per-tag counts is safe if the global one moves: every stamp changes.
            self._tag_epochs.clear()
            self._global_epoch += 1
        self._tag_epochs[tag] = self._tag_epochs.get(tag, 0) + 1

    def clear(self) -> int:
        self.changes += 1
        self._global_epoch += 1
        count = len(self._entries)
        self._entries.clear()
        self._by_tag.clear()
        return count

    def drop_near(self) -> int:
        """Drop every copy of a Redis entry (they may have missed invalidations); count them."""
        self.changes += 1
        self._global_epoch += 1
        doomed = [key for key, entry in self._entries.items() if entry.near]
        for key in doomed:
            self._remove(key)
        return len(doomed)

    def clamp(self, until: float) -> None:
        """Let no entry live past `until` (while Redis is away, nothing keeps them coherent)."""
        for entry in self._entries.values():
            if entry.expires_at > until:
                entry.expires_at = until

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key)
        for tag in entry.tags:
            keys = self._by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]
