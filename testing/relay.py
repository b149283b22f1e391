"""A TCP relay in front of a server the tests must not touch (the shared PostgreSQL).

Tests use it to reach PostgreSQL, which listens on 127.0.0.1 only, from another network
namespace, and to cut PostgreSQL off and bring it back (an outage) while the real server
runs on.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress
from urllib.parse import urlsplit, urlunsplit

from ops.stack import free_port


class TcpRelay:
    """Forwards each connection accepted on (address, port) to `target`. `stop()` is an
    outage: the listener closes and every open connection is cut; `start()` listens again on
    the same port."""

    def __init__(self, target: tuple[str, int], *, address: str = "127.0.0.1"):
        self.target = target
        self.address = address
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> TcpRelay:
        listener = socket.create_server((self.address, self.port))  # SO_REUSEADDR on POSIX
        listener.settimeout(0.2)  # so the accept loop notices stop()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            cut, self._open = self._open, set()
        for end in cut:
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def database_url(self, database_url: str) -> str:
        """`database_url` with the relay's address and port instead of the server's."""
        parts = urlsplit(database_url)
        credentials, _, _ = parts.netloc.rpartition("@")
        host = f"{self.address}:{self.port}"
        return urlunsplit(parts._replace(netloc=f"{credentials}@{host}" if credentials else host))

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except OSError:  # the timeout, or stop() closed the listener: look again
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # stop() ran meanwhile: cut this one too
                    client.close()
                    upstream.close()
                    continue
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)  # the other side ends too


def relay_to_test_database(*, address: str = "127.0.0.1") -> TcpRelay:
    """A relay (not started yet) to this test run's PostgreSQL."""
    from django.db import connection

    db = connection.settings_dict
    return TcpRelay((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)), address=address)
