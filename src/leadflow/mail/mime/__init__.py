"""The pure MIME parser: raw RFC 822 bytes to a `ParsedMessage`, never raising.

`parse` holds the entry point; `charset` (decoding), `headers` (addresses, dates, ids), `tree`
(parsing and walking the part tree), `parts` (bodies and attachments) and `html` (HTML to text)
its helpers.
"""

from leadflow.mail.mime.headers import normalise_message_id, parse_references
from leadflow.mail.mime.parse import direction_of, parse_message, snippet_of

__all__ = [
    "direction_of",
    "normalise_message_id",
    "parse_message",
    "parse_references",
    "snippet_of",
]
