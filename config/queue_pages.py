"""django-rq's queue pages (/admin/rq/) under our Content-Security-Policy.

Its templates carry a few inline `<script>` and `<style>` blocks and two `style="…"`
attributes, all fixed text. Rather than `'unsafe-inline'` (which would let any injected
script run) or copies of its templates (to add nonces), these pages' policy allows exactly
those blocks by their SHA-256 hashes, read from the installed templates at start-up (so an
upgrade of django-rq is followed), and only on these pages: every other answer keeps the
plain `'self'` policy. Text that varies per request could not be hashed ahead; none does
today, and such a block would be skipped and show up as a CSP violation in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

import django_rq
from csp.decorators import csp_update

TEMPLATES = Path(django_rq.__file__).resolve().parent / "templates" / "django_rq"
INLINE_BLOCK = re.compile(r"<(script|style)(\s[^>]*)?>(.*?)</\1>", re.S | re.I)
STYLE_ATTRIBUTE = re.compile(r'\sstyle="([^"]*)"', re.I)


def csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def _fixed(text: str) -> bool:
    return "{{" not in text and "{%" not in text


@cache
def inline_sources() -> dict[str, list[str]]:
    """The CSP sources that admit django-rq's inline blocks and style attributes."""
    scripts: set[str] = set()
    styles: set[str] = set()
    for template in sorted(TEMPLATES.glob("*.html")):
        source = template.read_text(encoding="utf-8")
        for kind, attributes, body in INLINE_BLOCK.findall(source):
            if "src=" in (attributes or "") or not _fixed(body):
                continue
            (scripts if kind.lower() == "script" else styles).add(csp_hash(body))
        styles.update(csp_hash(value) for value in STYLE_ATTRIBUTE.findall(source) if _fixed(value))
    # 'unsafe-hashes': hashes also admit style="…" attributes, and only those with this text.
    return {
        "script-src": sorted(scripts),
        "style-src": ["'unsafe-hashes'", *sorted(styles)],
    }


def with_queue_page_policy(view):
    return csp_update(inline_sources())(view)
