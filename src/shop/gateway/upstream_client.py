"""Sending one request to one upstream instance, and telling its failures apart.

aiohttp's client sends almost every request: it costs the gateway a quarter to a
third of the CPU time httpx's did per proxied read (bench/README.md, "The gateway
hop"; 0.22-0.33 against 0.9-1.3 ms in isolation, httpx with the kit's lean pool).
It writes the request head as UTF-8 text, so a request whose target is not ASCII,
or whose header values are not valid UTF-8 (RFC 9110 calls such octets opaque:
a proxy passes them on as they are), goes through httpx's transport instead, which
sends the bytes it is given. Either way the proxy (:mod:`shop.gateway.proxy`) sees
one :class:`Answer` and these failures:

- :class:`Unreachable`: nothing was sent (refused, or no connection in time);
  another instance may be tried, whatever the method.
- :class:`TimedOut`: sent, and no answer in time.
- :class:`Broken`: sent, then the connection failed or the answer was malformed
  or broke off; the instance may have acted on the request.
- :class:`Failed`: anything else the client refused to do.

Neither client keeps cookies, follows redirects, decompresses, or adds headers of
its own but ``Host`` (and the body's framing): the service sees what the client
sent, less what :mod:`shop.gateway.proxy` strips and plus what it sets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import httpx
from yarl import URL

from shop.kit.http_pool import lean_transport

__all__ = [
    "Answer",
    "Broken",
    "Failed",
    "Outgoing",
    "TimedOut",
    "Unreachable",
    "UpstreamClient",
    "UpstreamFailure",
]


class UpstreamFailure(Exception):
    pass


class Unreachable(UpstreamFailure):
    pass


class TimedOut(UpstreamFailure):
    pass


class Broken(UpstreamFailure):
    pass


class Failed(UpstreamFailure):
    pass


@dataclass(slots=True)
class Outgoing:
    method: str
    base_url: str
    # The request target as the client sent it (path and query), byte for byte.
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: AsyncIterator[bytes] | None


class Answer(Protocol):
    status: int
    headers: list[tuple[bytes, bytes]]  # raw pairs, in order, repeated ones kept

    async def read(self) -> bytes:
        """The whole body as sent (still compressed, if it was); the connection goes
        back to the pool."""

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""

    async def close(self) -> None:
        """Done with the answer, read or not (a connection with unread body is closed)."""


# Sent, then the connection failed, or the answer was malformed or broke off.
_BROKEN = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)


def _aiohttp_failure(exc: Exception) -> UpstreamFailure:
    # Most specific first: a connection timeout is a server timeout, a connector error
    # an OS error.
    if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return Unreachable(repr(exc))
    if isinstance(exc, (aiohttp.ServerTimeoutError, TimeoutError)):
        return TimedOut(repr(exc))
    if isinstance(exc, _BROKEN):
        return Broken(repr(exc))
    return Failed(repr(exc))


_AIOHTTP_ERRORS = (aiohttp.ClientError, TimeoutError)


class _AiohttpAnswer:
    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers = list(response.raw_headers)

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except _AIOHTTP_ERRORS as exc:
            raise _aiohttp_failure(exc) from exc
        finally:
            self._response.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except _AIOHTTP_ERRORS as exc:
            raise _aiohttp_failure(exc) from exc

    async def close(self) -> None:
        # A connection whose answer was not read to its end cannot be reused.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


def _httpx_failure(exc: httpx.TransportError) -> UpstreamFailure:
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return Unreachable(repr(exc))
    if isinstance(exc, httpx.TimeoutException):
        return TimedOut(repr(exc))
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError)):
        return Broken(repr(exc))
    return Failed(repr(exc))


class _HttpxAnswer:
    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = list(response.headers.raw)

    async def read(self) -> bytes:
        try:
            return b"".join([chunk async for chunk in self.chunks()])
        finally:
            await self._response.aclose()

    async def chunks(self) -> AsyncIterator[bytes]:
        stream = self._response.stream
        if not isinstance(stream, httpx.AsyncByteStream):  # pragma: no cover - sync transport
            raise TypeError("the upstream transport must be asynchronous")
        try:
            async for chunk in stream:
                yield chunk
        except httpx.TransportError as exc:
            raise _httpx_failure(exc) from exc

    async def close(self) -> None:
        await self._response.aclose()


class _ClientBody:
    """The client's body as aiohttp streams it, keeping the error it may raise: aiohttp
    reports it as a failure of the connection."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self.error: Exception | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks:
                yield chunk
        except Exception as exc:
            self.error = exc
            raise


def _utf8_text(pairs: list[tuple[bytes, bytes]]) -> list[tuple[str, str]] | None:
    """The header pairs as text aiohttp writes back as the same bytes, or None."""
    try:
        return [(name.decode("ascii"), value.decode("utf-8")) for name, value in pairs]
    except UnicodeDecodeError:
        return None


class UpstreamClient:
    """Pooled connections to every upstream instance (up to ``max_connections`` for
    each client), with ``connect`` and ``read`` timeouts in seconds."""

    def __init__(
        self, *, max_connections: int, keepalive_seconds: float, connect: float, read: float
    ) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=max_connections, limit_per_host=0, keepalive_timeout=keepalive_seconds
            ),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )
        # aiohttp sends an idempotent request again, to the same instance, when its
        # connection fails; no option turns that off (aio-libs/aiohttp#10790). The proxy
        # decides on retries itself: at most once, and to another instance.
        self._session._retry_connection = False
        self._transport = lean_transport(
            httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=keepalive_seconds,
            )
        )
        self._timeout = {"connect": connect, "read": read, "write": read, "pool": connect}

    async def send(self, outgoing: Outgoing) -> Answer:
        """The answer's status and headers; its body is still to be read or streamed."""
        text = _utf8_text(outgoing.headers) if outgoing.target.isascii() else None
        if text is None:
            return await self._send_bytes(outgoing)
        body = _ClientBody(outgoing.body) if outgoing.body is not None else None
        try:
            response = await self._session.request(
                outgoing.method,
                URL(outgoing.base_url + outgoing.target.decode("ascii"), encoded=True),
                headers=text,
                data=body,
                allow_redirects=False,
            )
        except _AIOHTTP_ERRORS as exc:
            if body is not None and body.error is not None:
                # The client's body failed (too large, too slow: 413, 408), not the service.
                raise body.error from None
            raise _aiohttp_failure(exc) from exc
        return _AiohttpAnswer(response)

    async def _send_bytes(self, outgoing: Outgoing) -> Answer:
        request = httpx.Request(
            outgoing.method,
            outgoing.base_url + outgoing.target.decode("latin-1"),
            headers=outgoing.headers,
            content=outgoing.body,
            # Sent as the request target byte for byte: httpx would normalise dot
            # segments and re-quote the path of the URL.
            extensions={"target": outgoing.target, "timeout": self._timeout},
        )
        try:
            response = await self._transport.handle_async_request(request)
        except httpx.TransportError as exc:
            raise _httpx_failure(exc) from exc
        return _HttpxAnswer(response)

    async def aclose(self) -> None:
        await self._session.close()
        await self._transport.aclose()
