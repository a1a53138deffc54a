from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.mail.mime.html import html_to_text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hej</p><p>der</p>", "Hej\nder"),
        (
            "<table>\n <tr>\n  <td>Navn</td>\n  <td>Ærø Hansen</td>\n </tr>\n"
            " <tr><td><b>Email</b></td><td>a@b.dk</td></tr>\n</table>",
            "Navn Ærø Hansen\nEmail a@b.dk",
        ),
        ("Linje et<br>Linje to<br/>Linje tre", "Linje et\nLinje to\nLinje tre"),
        ("<style>p{color:red}</style><script>alert(1)</script><p>Synlig</p>", "Synlig"),
        ("<p>S&oslash;ren &amp; B&aelig;k&nbsp;ApS</p>", "Søren & Bæk ApS"),
        ("<ul><li>en</li><li>to</li></ul>", "en\nto"),
        ("<div>ord\n   over\n linjer</div>", "ord over linjer"),
        ("", ""),
    ],
)
def test_it_turns_html_into_readable_lines(html: str, text: str) -> None:
    assert html_to_text(html) == text


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_it_never_raises_and_leaves_no_tags_of_well_formed_markup(text: str) -> None:
    result = html_to_text(f"<p>{text.replace('<', ' ')}</p>")
    assert "<p>" not in result
