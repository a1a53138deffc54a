"""Cache values carry a format/version prefix: what another format or schema wrote is a miss."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadflow.cache.envelope import FORMAT_VERSION, Packed, decode, encode, pack, unpack

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)
values = st.binary() | st.text() | json_values
tags = st.frozensets(st.text(min_size=1).filter(lambda t: "\x1f" not in t), max_size=5)
schemas = st.text(alphabet="abcdef0123456789", max_size=12)


@given(value=values, schema=schemas, tag_set=tags, expires_at=st.floats(0, 4e9))
def test_it_reads_back_what_it_wrote(
    value: object, schema: str, tag_set: frozenset[str], expires_at: float
) -> None:
    data = encode(pack(value), expires_at=expires_at, schema=schema, tags=tag_set)
    decoded = decode(data, schema=schema)
    assert decoded is not None
    assert unpack(decoded.packed) == value
    assert type(unpack(decoded.packed)) is type(value)
    assert decoded.expires_at == expires_at
    assert decoded.tags == tag_set


@given(value=values, written=schemas, expected=schemas)
def test_a_value_written_for_another_schema_is_a_miss(
    value: object, written: str, expected: str
) -> None:
    data = encode(pack(value), expires_at=1.0, schema=written)
    assert (decode(data, schema=expected) is None) == (written != expected)


def test_a_value_in_another_format_version_is_a_miss() -> None:
    data = bytearray(encode(pack({"a": 1}), expires_at=1.0))
    data[3] = FORMAT_VERSION + 1
    assert decode(bytes(data)) is None


@given(garbage=st.binary(max_size=64))
def test_bytes_that_are_not_an_envelope_are_a_miss_not_an_error(garbage: bytes) -> None:
    decoded = decode(garbage)
    assert decoded is None or garbage.startswith(b"LFC")


def test_old_unprefixed_json_is_a_miss() -> None:
    assert decode(b'{"total": 3}') is None
    assert decode(b"LFC") is None
    header = struct.pack(">3sBcdBH", b"LFC", FORMAT_VERSION, b"J", 1.0, 40, 0)
    assert decode(header + b"short") is None  # schema length beyond the data


def test_json_values_come_back_as_fresh_objects() -> None:
    packed = pack({"items": [1, 2]})
    first = unpack(packed)
    assert isinstance(first, dict)
    first["items"].append(3)
    assert unpack(packed) == {"items": [1, 2]}


def test_it_refuses_values_it_cannot_store() -> None:
    with pytest.raises(TypeError, match="cannot cache a object"):
        pack(object())
    assert pack(b"x") == Packed(b"B", b"x")
