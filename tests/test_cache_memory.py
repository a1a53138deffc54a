"""The memory tier: bounded LRU, TTL per entry (fake clock), tags and prefixes."""

from __future__ import annotations

from collections import OrderedDict

from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.cache.envelope import pack
from leadflow.cache.memory import MemoryEntry, MemoryTier
from tests.fakes.clock import FakeClock


def _entry(
    value: object, *, expires_at: float, tags: frozenset[str] = frozenset(), near: bool = False
) -> MemoryEntry:
    return MemoryEntry(pack(value), expires_at, "", tags, near)


operations = st.lists(
    st.tuples(st.sampled_from(["set", "get", "delete"]), st.integers(0, 15)), max_size=200
)


@settings(max_examples=200)
@given(max_items=st.integers(1, 8), ops=operations)
def test_it_never_holds_more_than_max_items_and_evicts_the_least_recently_used(
    max_items: int, ops: list[tuple[str, int]]
) -> None:
    memory = MemoryTier(max_items=max_items, clock=FakeClock())
    model: OrderedDict[str, int] = OrderedDict()
    for op, n in ops:
        key = f"k{n}"
        if op == "set":
            memory.set(key, _entry(n, expires_at=1e9))
            model[key] = n
            model.move_to_end(key)
            while len(model) > max_items:
                model.popitem(last=False)
        elif op == "get":
            entry = memory.get(key)
            assert (entry is not None) == (key in model)
            if key in model:
                model.move_to_end(key)
        else:
            memory.delete(key)
            model.pop(key, None)
        assert len(memory) == len(model) <= max_items
    assert [k for k in model if k in memory] == list(model)


def test_an_entry_expires_at_its_ttl() -> None:
    clock = FakeClock(start=1000.0)
    memory = MemoryTier(max_items=10, clock=clock)
    memory.set("a", _entry(1, expires_at=1030.0))
    clock.advance(29.999)
    assert memory.get("a") is not None
    clock.advance(0.001)
    assert memory.get("a") is None
    assert memory.expirations == 1
    assert len(memory) == 0


def test_an_already_expired_entry_is_not_stored_and_drops_the_old_one() -> None:
    clock = FakeClock(start=10.0)
    memory = MemoryTier(max_items=10, clock=clock)
    memory.set("a", _entry(1, expires_at=20.0))
    memory.set("a", _entry(2, expires_at=10.0))
    assert memory.get("a") is None


def test_invalidation_by_tag_and_prefix_drops_exactly_those() -> None:
    memory = MemoryTier(max_items=10, clock=FakeClock())
    memory.set("list:leads", _entry(1, expires_at=9e9, tags=frozenset({"leads"})))
    memory.set("list:customers", _entry(2, expires_at=9e9, tags=frozenset({"customers"})))
    memory.set("customer360:1", _entry(3, expires_at=9e9, tags=frozenset({"leads", "c:1"})))
    memory.set("dashboard:stats", _entry(4, expires_at=9e9))
    leads, customers = memory.stamp(frozenset({"leads"})), memory.stamp(frozenset({"customers"}))
    assert memory.invalidate(tags=["leads"]) == 2
    assert memory.changes == 1
    # A load of a "leads" view that began before is refused; one of "customers" is not.
    assert memory.stamp(frozenset({"leads"})) != leads
    assert memory.stamp(frozenset({"customers"})) == customers
    assert set(memory._entries) == {"list:customers", "dashboard:stats"}
    assert memory.invalidate(prefixes=["list:"]) == 1
    assert set(memory._entries) == {"dashboard:stats"}
    assert memory.stamp(frozenset({"customers"})) != customers  # keys, prefixes: every stamp
    assert memory.invalidate(keys=["dashboard:stats", "missing"]) == 1
    assert len(memory) == 0
    assert memory._by_tag == {}


def test_eviction_keeps_the_tag_index_clean() -> None:
    memory = MemoryTier(max_items=2, clock=FakeClock())
    for n in range(5):
        memory.set(f"k{n}", _entry(n, expires_at=9e9, tags=frozenset({"t", f"only{n}"})))
    assert memory.evictions == 3
    assert memory._by_tag == {"t": {"k3", "k4"}, "only3": {"k3"}, "only4": {"k4"}}


def test_clamp_and_drop_near() -> None:
    clock = FakeClock(start=0.0)
    memory = MemoryTier(max_items=10, clock=clock)
    memory.set("near", _entry(1, expires_at=100.0, near=True))
    memory.set("local", _entry(2, expires_at=100.0))
    memory.set("short", _entry(3, expires_at=3.0))
    memory.clamp(5.0)
    clock.advance(4.0)
    assert memory.get("short") is None
    assert memory.get("local") is not None
    assert memory.drop_near() == 1
    assert memory.get("near") is None
    clock.advance(1.0)
    assert memory.get("local") is None
