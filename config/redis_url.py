"""Redis URL helpers shared by settings.py and the test plugin (config/testenv.py).

No environment reads and no Django imports: testenv.py imports this before the settings.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

#: The cache's database index on the queue's Redis server when CACHE_REDIS_URL is unset.
DEFAULT_CACHE_DATABASE = 1


def database_index(url: str) -> int:
    """The database a redis:// URL names (0 when the path names none)."""
    return int(urlsplit(url).path.strip("/") or 0)


def with_database(url: str, index: int) -> str:
    """`url`'s server (scheme, credentials, host, port) with database `index`."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{index}"))


def same_database(first: str, second: str) -> bool:
    """Whether two redis:// URLs name one database of one server."""
    a, b = urlsplit(first), urlsplit(second)
    return (a.hostname, a.port or 6379, database_index(first)) == (
        b.hostname,
        b.port or 6379,
        database_index(second),
    )
