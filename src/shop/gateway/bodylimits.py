"""Request body limits per route: image uploads may be large, everything else is JSON.

A body over its route's limit is answered 413 before it is read in full: at
once when Content-Length says so, else as soon as the streamed body passes the
limit (the proxy stops forwarding it then).
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from shop.kit.middleware import BodySizeLimitMiddleware

# POST /api/v1/products/{id}/images: a 10 MiB image in a multipart envelope; the same
# through the dashboard's form (/admin/products/{id}/images), which passes it on.
UPLOAD_ROUTE = re.compile(r"^(/api/v1|/admin)/products/[^/]+/images/?$")


def is_upload(scope: Scope) -> bool:
    return scope.get("method") == "POST" and UPLOAD_ROUTE.match(scope.get("path", "")) is not None


class RouteBodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, json_max_bytes: int, upload_max_bytes: int) -> None:
        self.json = BodySizeLimitMiddleware(app, json_max_bytes)
        self.upload = BodySizeLimitMiddleware(app, upload_max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limited = self.upload if is_upload(scope) else self.json
        await limited(scope, receive, send)
