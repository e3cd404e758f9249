"""Products as the API shows them (their JSON), kept beside the in-process index.

A search page the index answers takes its products' views from here, and reads only
those it lacks from PostgreSQL (shop.products.reads). A view is kept under the
product's version (mem_loader: the row versions of the product, its variants and
their stock) read *before* the view was: kept only if the index has that very
version then, it is never older than what the index shows, and it goes as soon as
the index sees another version (a write, stock, an image, an option: each one moves
the product's or a variant's row). A view may be newer than its version (a write
between the two reads): the index's next catch-up sees the new version and drops it.

At most ``SEARCH_INDEX_VIEWS`` products (:data:`VIEWS_KEPT` by default; 1 to 3 KB
each), the first kept first out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from shop.products.search.mem_loader import versions_of

__all__ = ["VIEWS_KEPT", "KeptViews"]

VIEWS_KEPT = 50_000


class KeptViews:
    """The views of the products searches showed lately (see the module's docstring).
    ``version_of``: the version of a product the index has now (None: not in it)."""

    def __init__(
        self, version_of: Callable[[uuid.UUID], str | None], size: int = VIEWS_KEPT
    ) -> None:
        self._version_of = version_of
        self.size = size
        self._views: dict[uuid.UUID, bytes] = {}

    def get(self, product_id: uuid.UUID) -> bytes | None:
        return self._views.get(product_id)

    async def versions(
        self, session: AsyncSession, product_ids: Iterable[uuid.UUID]
    ) -> Mapping[uuid.UUID, str]:
        """The products' versions now: read them before their views."""
        return await versions_of(session, list(product_ids))

    def keep(self, product_id: uuid.UUID, version: str | None, view: bytes) -> None:
        """Keeps ``view``, read after ``version``, if the index has that version."""
        if not self.size or version is None or self._version_of(product_id) != version:
            return
        if len(self._views) >= self.size and product_id not in self._views:
            del self._views[next(iter(self._views))]  # the first kept
        self._views[product_id] = view

    def forget(self, product_id: uuid.UUID) -> None:
        self._views.pop(product_id, None)

    def clear(self) -> None:
        self._views.clear()

    def __len__(self) -> int:
        return len(self._views)
