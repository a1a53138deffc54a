"""A draft as mail: plain text or HTML tables, wrapped as a reply or forward, encoded as MIME."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from html import escape

from tests.lead_mails.answers import COPENHAGEN
from tests.lead_mails.choices import Chooser
from tests.lead_mails.sources import Draft, Line

OWN_ADDRESS = "info@rendetalje.dk"
_WEEKDAYS = ("man.", "tir.", "ons.", "tor.", "fre.", "lør.", "søn.")
_MONTHS = ("jan.", "feb.", "mar.", "apr.", "maj", "jun.", "jul.", "aug.", "sep.", "okt.", "nov.")
_REPLY_INTROS = (
    "Husk at kontakte kunden i dag.",
    "Videresender lige dette lead til dig.",
    "Se henvendelsen herunder.\n\nMed venlig hilsen\nMichael",
)


def _colon(c: Chooser, line: Line, platform_colon: bool) -> bool:
    if line.key == "question":
        return True  # platforms write their added questions with a colon
    return platform_colon if c.chance(85) else not platform_colon


def text_line(c: Chooser, line: Line, platform_colon: bool) -> list[str]:
    """One answer as text lines: label case, colon or not, spacing, value on the next line."""
    colon = _colon(c, line, platform_colon)
    values = line.value.split("\n")
    lead = c.pick(("", "", "", "", "  ", "\t", "- ", "• "))
    if line.key != "question" and c.chance(10):
        head = lead + line.label + (c.pick((":", " :")) if colon else "")
        return [head, *([""] if c.chance(50) else []), *values]
    sep = c.pick((": ", ":", " : ", ":\t", "  :  ")) if colon else c.pick((" ", "  ", "\t"))
    trail = c.pick(("", "", "", " ", "\t", "\u00a0"))
    first = lead + _loosen(c, line.label) + sep + _loosen(c, values[0]) + trail
    return [first, *(_loosen(c, value) for value in values[1:])]


def _loosen(c: Chooser, text: str) -> str:
    """Now and then a doubled or non-breaking space, as form mail has them."""
    if " " not in text or not c.chance(5):
        return text
    return text.replace(" ", c.pick(("  ", "\u00a0", " \t")), 1)


def text_body(c: Chooser, d: Draft) -> str:
    out: list[str] = [d.intro, ""] if d.intro else []
    for block in d.blocks:
        if c.chance(30):
            out.append("")
        for item in block:
            if isinstance(item, str):
                out += ["", item] if c.chance(50) else [item]
            else:
                out += text_line(c, item, d.source.colon)
    if d.footer:
        out += ["", *d.footer.split("\n")]
    return "\n".join(out) + "\n"


def _html_value(value: str) -> str:
    return "<br>\n".join(escape(part, quote=False) for part in value.split("\n"))


def _html_line(c: Chooser, line: Line, platform_colon: bool, style: str) -> str:
    label = escape(line.label + (":" if _colon(c, line, platform_colon) else ""), quote=False)
    label += c.pick(("", "", "", "&nbsp;"))
    value = _html_value(line.value)
    if style == "div":
        return f"<div><strong>{label}</strong> {value}</div>"
    if style == "para":
        return f"<p><b>{label}</b><br>{value}</p>"
    cell = c.pick((f"<td>{label}</td>", f"<td><b>{label}</b></td>", f"<th>{label}</th>"))
    return f"<tr>{cell}<td>{value}</td></tr>"


def html_body(c: Chooser, d: Draft) -> str:
    """The draft as an HTML page: table rows, div lines or paragraphs, mixed."""
    out = ["<html><head><style>td {padding: 4px}</style></head><body>"]
    if d.intro:
        out += [f"<p>{_html_value(part)}</p>" for part in d.intro.split("\n\n")]
    in_table = False
    for block in d.blocks:
        for item in block:
            style = "table" if c.chance(70) else c.pick(("div", "para"))
            if isinstance(item, str) and in_table and c.chance(50):
                out.append(f'<tr><td colspan="2"><b>{escape(item)}</b></td></tr>')
                continue
            if in_table and (style != "table" or isinstance(item, str)):
                out.append("</table>")
                in_table = False
            if isinstance(item, str):
                out.append(f"<h3>{escape(item)}</h3>")
                continue
            if style == "table" and not in_table:
                out.append("<table>")
                in_table = True
            out.append(_html_line(c, item, d.source.colon, style))
    if in_table:
        out.append("</table>")
    if d.footer:
        out.append(f"<p>{_html_value(d.footer)}</p>")
    return "\n".join([*out, "</body></html>"])


def _when(d: Draft) -> str:
    local = d.sent.astimezone(COPENHAGEN)
    month = _MONTHS[local.month - 1] if local.month <= len(_MONTHS) else "dec."
    return (
        f"{_WEEKDAYS[local.weekday()]} {local.day}. {month} {local.year} "
        f"kl. {local.hour:02d}.{local.minute:02d}"
    )


def wrapping(c: Chooser) -> str:
    return c.pick(("none", "none", "none", "none", "reply", "reply_nested", "fwd", "vs"))


def wrap_text(c: Chooser, d: Draft, kind: str, body: str) -> str:
    """The body as quoted in a reply ("> ") or inlined below a forward header."""
    sender = formataddr(d.sender)
    intro = c.pick(_REPLY_INTROS)
    if kind in ("reply", "reply_nested"):
        marker = ">> " if kind == "reply_nested" else "> "
        quoted = "\n".join(marker + line if line else marker.strip() for line in body.split("\n"))
        return f"{intro}\n\nDen {_when(d)} skrev {sender}:\n{quoted}\n"
    if kind == "fwd":
        header = (
            f"---------- Forwarded message ---------\nFrom: {sender}\nDate: {_when(d)}\n"
            f"Subject: {d.subject}\nTo: <{OWN_ADDRESS}>"
        )
    else:
        header = (
            f"-----Oprindelig meddelelse-----\nFra: {sender}\nSendt: {_when(d)}\n"
            f"Til: {OWN_ADDRESS}\nEmne: {d.subject}"
        )
    return f"{intro}\n\n{header}\n\n{body}"


def wrap_html(c: Chooser, d: Draft, kind: str, body: str) -> str:
    inner = body.replace("<html>", "").replace("</html>", "")
    sender = escape(formataddr(d.sender), quote=False)
    intro = _html_value(c.pick(_REPLY_INTROS))
    if kind in ("reply", "reply_nested"):
        return (
            f"<html><body><div>{intro}</div><div>Den {_when(d)} skrev {sender}:</div>"
            f"<blockquote>{inner}</blockquote></body></html>"
        )
    header = (
        f"---------- Forwarded message ---------<br>From: {sender}<br>Date: {_when(d)}<br>"
        f"Subject: {escape(d.subject)}<br>To: &lt;{OWN_ADDRESS}&gt;"
    )
    return f"<html><body><div>{intro}</div><div>{header}</div><br>{inner}</body></html>"


def subject_prefix(c: Chooser, kind: str) -> str:
    if kind.startswith("reply"):
        return c.pick(("Re: ", "SV: ", "RE: Re: "))
    if kind == "fwd":
        return "Fwd: "
    if kind == "vs":
        return "VS: "
    return c.pick(("", "", "", "", "Re: ", "Fwd: ", "VS: "))


def mime(
    c: Chooser, d: Draft, *, subject: str, text: str, html: str, rendering: str, message_id: str
) -> tuple[bytes, str]:
    """RFC 822 bytes (text, HTML-only or multipart/alternative) and "encoding/charset"."""
    cte = c.pick(("quoted-printable", "base64", "8bit"))
    charset = "utf-8"
    if c.chance(25) and _encodable(text + html, "iso-8859-1"):
        charset = "iso-8859-1"
    msg = EmailMessage()
    msg["From"] = formataddr(d.sender)
    msg["To"] = OWN_ADDRESS
    msg["Subject"] = subject
    msg["Date"] = format_datetime(d.sent.astimezone(COPENHAGEN))
    msg["Message-ID"] = message_id
    if d.reply_to:
        msg["Reply-To"] = d.reply_to
    if rendering == "html":
        msg.set_content(html, subtype="html", charset=charset, cte=cte)
    else:
        msg.set_content(text, charset=charset, cte=cte)
        if rendering == "alternative":
            msg.add_alternative(html, subtype="html", charset=charset, cte=cte)
            # The stdlib draws a random boundary otherwise; the mail must follow from the choices.
            msg.set_boundary(f"==generated-lead-{c.number(0, 10**9)}==")
    return bytes(msg), f"{cte}/{charset}"


def _encodable(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True
