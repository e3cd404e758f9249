"""A transport for busy service-to-service clients (the orders service's products
client; the gateway's, for the requests aiohttp cannot send byte for byte):
httpx's, with a connection pool whose bookkeeping does not grow with the number
of pooled connections.

httpcore's pool (1.0.x) re-examines every pooled connection each time a request
starts or ends: for each idle one it asks whether the server closed it (a poll
system call, behind several layers of anyio attribute lookups), and counts all
connections once per idle connection (quadratic). With the gateway's dozens of
keep-alive connections per service, that bookkeeping was about a third of the
gateway's CPU time per proxied request.

Keep ``max_keepalive_connections`` at the number of connections a client uses
under load: a connection closed for being surplus is reopened by the next burst.

:class:`LeanConnectionPool` makes the same decisions with less work: closed
connections are dropped in one pass, and an idle connection is checked for
expiry (keep-alive time, or closed by the server) only when it is about to be
reused, so a request pays for one such check, not one per pooled connection.
An expired connection found that way is closed and the next one is tried, as
before. Idle connections above ``max_keepalive_connections`` are closed.
Everything else (connecting, HTTP/1.1, streaming, errors, timeouts) is
httpcore's own.

Two more costs per request are skipped when they buy nothing: a request given a
connection at once is not signalled through an event (an anyio event set up per
request, behind an async-library lookup) unless it is already waiting on it; and
the cancellation shield around closing connections is entered only when there
are connections to close (twice per request otherwise, for an empty list).
Together about 8% of the gateway's CPU per proxied read (bench/README.md, "The
gateway hop").
"""

from __future__ import annotations

import httpcore
import httpx
from httpcore._async.connection_pool import AsyncPoolRequest
from httpcore._async.interfaces import AsyncConnectionInterface


def _assign(pool_request: AsyncPoolRequest, connection: AsyncConnectionInterface) -> None:
    """``pool_request.assign_to_connection(connection)``, without its event when no one
    waits on it: httpcore waits on a request's event only while it has no connection,
    and sets the event up (its backend) before waiting."""
    if pool_request._connection_acquired._backend:
        pool_request.assign_to_connection(connection)
    else:
        pool_request.connection = connection


class LeanConnectionPool(httpcore.AsyncConnectionPool):
    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        closing: list[AsyncConnectionInterface] = []
        connections = [c for c in self._connections if not c.is_closed()]
        idle = [c for c in connections if c.is_idle()]
        for surplus in idle[self._max_keepalive_connections :]:
            connections.remove(surplus)
            closing.append(surplus)
        self._connections = connections

        for pool_request in self._requests:
            if not pool_request.is_queued():
                continue
            origin = pool_request.request.url.origin
            chosen: AsyncConnectionInterface | None = None
            for connection in list(connections):
                if not (connection.can_handle_request(origin) and connection.is_available()):
                    continue
                if connection.is_idle() and connection.has_expired():
                    connections.remove(connection)
                    closing.append(connection)
                    continue
                chosen = connection
                break
            if chosen is None:
                if len(connections) >= self._max_connections:
                    idle_now = [c for c in connections if c.is_idle()]
                    if not idle_now:
                        continue  # stays queued until a connection is released
                    connections.remove(idle_now[0])
                    closing.append(idle_now[0])
                chosen = self.create_connection(origin)
                connections.append(chosen)
            _assign(pool_request, chosen)
        return closing

    async def _close_connections(self, closing: list[AsyncConnectionInterface]) -> None:
        if closing:
            await super()._close_connections(closing)


def lean_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's transport for ``limits``, on a :class:`LeanConnectionPool`."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    pool = transport._pool
    if type(pool) is not httpcore.AsyncConnectionPool:  # pragma: no cover - httpx changed
        raise RuntimeError(f"unexpected httpx connection pool {type(pool).__name__}")
    waiting = AsyncPoolRequest(httpcore.Request("GET", "http://localhost/"))
    if getattr(waiting._connection_acquired, "_backend", None) != "":  # pragma: no cover
        raise RuntimeError("unexpected httpcore pool request")  # httpcore changed
    pool.__class__ = LeanConnectionPool  # same state, leaner bookkeeping
    return transport
