"""One spelling per e-mail address: the identity every login door, lookup and rate limit uses.

An address is normalised once, at the edge: Unicode NFKC (so full-width and other
compatibility forms fold to their plain letters) and then `casefold()` (case-insensitive
the Unicode way). Stored addresses are in that form, so lookups are exact (`email=`), never
`iexact`/`UPPER()`: on PostgreSQL `UPPER('alıce')` equals `UPPER('alice')`, which let a
look-alike address log in as someone else. Lengths are checked before any lookup: the raw
text first (NFKC can expand a character up to 18 times), then the normalised address.
"""

from __future__ import annotations

import unicodedata

#: the column's length, and RFC 5321's limit on a forward path
MAX_EMAIL_LENGTH = 254
#: raw input longer than this is refused before it is even normalised
MAX_RAW_LENGTH = 4 * MAX_EMAIL_LENGTH


def normalize_email(value: str) -> str:
    """The canonical spelling of an address (no length or syntax check)."""
    return unicodedata.normalize("NFKC", value).strip().casefold()


def canonical_email(value: object) -> str | None:
    """The normalised address, or None when `value` cannot be one (not text, too long, empty).

    Used where an address is looked up or counted; syntax is the forms' business.
    """
    if not isinstance(value, str) or len(value) > MAX_RAW_LENGTH:
        return None
    email = normalize_email(value)
    if not email or len(email) > MAX_EMAIL_LENGTH:
        return None
    return email
