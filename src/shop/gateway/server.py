"""The gateway's HTTP server protocol: uvicorn's (httptools), with a deadline for the
request head.

uvicorn bounds how long a kept-alive connection may sit idle between requests
(``timeout_keep_alive``), but not how long a client may take to send a request's
line and headers: a client trickling a header a byte at a time would hold its
connection for ever, and a few thousand of them every file descriptor. Here the
head must have arrived within ``REQUEST_HEAD_TIMEOUT`` seconds of the connection
(or, on a kept-alive one, of the next request's first byte); else the connection
is closed. What follows the head is bounded by
:class:`shop.gateway.slow_clients.RequestDeadlineMiddleware`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# How long the gateway keeps a client's idle connection open (uvicorn's default): an
# idle connection costs a file descriptor, and the public has many.
PUBLIC_KEEP_ALIVE_SECONDS = 5


class HeadDeadlineProtocol(HttpToolsProtocol):
    head_timeout: float = 30.0  # set per server by head_deadline_protocol()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def head_deadline_protocol(seconds: float) -> type[HeadDeadlineProtocol]:
    """The protocol class for uvicorn's ``http`` option, with a head deadline of ``seconds``."""
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), {"head_timeout": seconds})
