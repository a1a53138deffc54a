"""The cache's settings: TTLs per key family merged with the defaults, a Redis URL checked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from leadflow.settings import DEFAULT_CACHE_TTLS, Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_a_family_left_out_keeps_its_default_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_CACHE_TTL_SECONDS", '{"dashboard": 5}')
    assert _settings().cache_ttl_seconds == {**DEFAULT_CACHE_TTLS, "dashboard": 5.0}


@pytest.mark.parametrize(
    ("ttls", "message"),
    [
        ({"dashbord": 5}, "unknown cache key family 'dashbord'"),
        ({"lists": 0}, "must be a positive number"),
        ({"lists": -3}, "must be a positive number"),
    ],
)
def test_bad_ttls_are_refused_with_the_reason(ttls: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _settings(cache_ttl_seconds=ttls)


def test_the_redis_url_must_be_a_redis_url() -> None:
    with pytest.raises(ValidationError, match=r"redis://, rediss:// or unix://"):
        _settings(redis_url="http://cache.internal:6379")
    assert _settings(redis_url=" ").redis_url is None
    assert _settings(redis_url="rediss://cache:6380/0").redis_url == "rediss://cache:6380/0"


def test_the_redis_timeout_stays_short() -> None:
    with pytest.raises(ValidationError):
        _settings(cache_redis_timeout=10)
    assert _settings().cache_redis_timeout == 0.2
