"""The next-page link keeps the request's parameters and sets `offset` and `limit`, exactly as
Starlette's `URL.include_query_params` would (which `next_link` no longer builds per request)."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from leadflow.api.pagination import PageParams, Total, next_link

# No control characters (an HTTP request line cannot carry them raw: h11 refuses it) and no
# `#` (it starts the fragment, which a client never sends).
_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="#"),
    max_size=12,
)
_keys = st.sampled_from(["offset", "limit", "status", "q", "sort", "a b", "ø"]) | _text
_pairs = st.lists(st.tuples(_keys, _text), max_size=6)
# The paths of list routes (a sub-list's customer id is validated before a link is made).
_paths = st.sampled_from(["/api/leads", "/api/sync/runs"]) | st.integers(1, 2**31 - 1).map(
    lambda customer: f"/api/customers/{customer}/threads"
)


def _request(path: str, query: bytes, root_path: str = "") -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": root_path,
        "query_string": query,
        "headers": [(b"host", b"leadflow.test")],
    }
    return Request(scope)


@given(
    path=_paths,
    pairs=_pairs,
    limit=st.integers(1, 200),
    offset=st.integers(0, 10_000),
    raw=st.booleans(),
)
def test_the_link_is_what_starlettes_url_makes_of_the_request(
    path: str, pairs: list[tuple[str, str]], limit: int, offset: int, raw: bool
) -> None:
    # Encoded as clients send it, or with the separators left raw.
    query = urlencode(pairs) if not raw else "&".join(f"{k}={v}" for k, v in pairs)
    request = _request(path, query.encode())
    page = PageParams(limit=limit, offset=offset)
    link = next_link(request, page, Total(value=offset + limit + 1, exact=True, has_more=True))
    expected = request.url.include_query_params(offset=offset + limit, limit=limit)
    assert link == f"{expected.path}?{expected.query}"


def test_no_link_on_the_last_page() -> None:
    request = _request("/api/leads", b"status=new")
    page = PageParams(limit=50, offset=0)
    assert next_link(request, page, Total(value=3, exact=True, has_more=False)) is None


def test_the_link_starts_with_the_root_path_the_app_is_mounted_at() -> None:
    request = _request("/api/leads", b"status=new&offset=3", root_path="/leadflow")
    link = next_link(request, PageParams(limit=2, offset=3), Total(9, exact=True, has_more=True))
    assert link == "/leadflow/api/leads?status=new&offset=5&limit=2"


def test_a_query_that_is_not_utf8_still_gets_a_link() -> None:
    request = _request("/api/leads", b"q=\xff\xfe")
    link = next_link(request, PageParams(limit=1, offset=0), Total(5, exact=True, has_more=True))
    assert link == "/api/leads?q=%C3%BF%C3%BE&offset=1&limit=1"
