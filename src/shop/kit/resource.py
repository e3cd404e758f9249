"""What a service opens for its lifetime: the :data:`Resource` type.

Its own module, below the application factory (:mod:`shop.kit.app`), so that the
modules that make resources (database, Redis, identity, background loops) need
nothing of the app layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from shop.kit.health import ReadinessCheck

# A resource opens something for the app's lifetime (stored on ``app.state``)
# and yields the readiness checks that prove it works.
Resource = Callable[[FastAPI], AbstractAsyncContextManager[Mapping[str, ReadinessCheck]]]
