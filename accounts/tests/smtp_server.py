"""A small real SMTP server for tests and measurements (socketserver, one thread per client).

It speaks enough SMTP for Django's smtp backend (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP,
QUIT), keeps every message it received, can answer each command after a delay (a
server across a network), and can stall: while `stalled` is set, it waits
before greeting a client, as a slow or unreachable mail server would.
"""

from __future__ import annotations

import socketserver
import threading
import time
from email import message_from_bytes
from email.message import Message


class _Session(socketserver.StreamRequestHandler):
    timeout = 30

    def reply(self, line: str) -> None:
        time.sleep(self.server.owner.reply_delay)  # type: ignore[attr-defined]
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server: SmtpServer = self.server.owner  # type: ignore[attr-defined]
        server.resume.wait(timeout=server.stall_limit)
        self.reply("220 test SMTP ready")
        while line := self.rfile.readline():
            command = line.decode(errors="replace").strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.reply("250 test")
            elif command.startswith(("MAIL", "RCPT", "RSET", "NOOP")):
                self.reply("250 OK")
            elif command == "DATA":
                self.reply("354 go ahead")
                body = b""
                while (chunk := self.rfile.readline()) and chunk != b".\r\n":
                    body += chunk[1:] if chunk.startswith(b"..") else chunk
                server.received(body)
                self.reply("250 queued")
            elif command == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class _Threaded(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class SmtpServer:
    def __init__(self, stall_limit: float = 30, reply_delay: float = 0.0):
        #: seconds before each reply, as a mail server across a network takes
        self.reply_delay = reply_delay
        self.messages: list[Message] = []
        self.resume = threading.Event()
        self.resume.set()
        self.stall_limit = stall_limit
        self._lock = threading.Lock()
        self._server = _Threaded(("127.0.0.1", 0), _Session)
        self._server.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> SmtpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.resume.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def stall(self) -> None:
        self.resume.clear()

    def received(self, body: bytes) -> None:
        with self._lock:
            self.messages.append(message_from_bytes(body))

    def wait_for(self, count: int, timeout: float) -> list[Message]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.messages)

    def settings(self) -> dict:
        """Django settings that send through this server."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": self.port,
            "EMAIL_USE_TLS": False,
            "EMAIL_USE_SSL": False,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
        }
