"""What a newcomer needs from ``shop up``: the demo catalog with ``--demo`` (``make
demo``), and, on an empty shop, the next step.

``--demo`` seeds on every start, which costs nothing once the catalog is there:
seeding is idempotent (products are matched by SKU, pictures added only where one is
missing), so the first run loads the catalog, the second finds it and creates
nothing, and a first run that was interrupted is completed by the next.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import any_, exists, literal, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.expression import Exists

from shop.kit.config import to_async_database_url

if TYPE_CHECKING:
    from shop.cli.seed import SeedResult

log = structlog.get_logger("shop.cli")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def seed_demo_catalog(env: dict[str, str], products: int) -> bool:
    """The demo catalog, into the migrated products database of ``env``; False if
    Ctrl-C or SIGTERM stopped it (what was committed stays, the next run completes it).
    A stop interrupts the seeding at once, not after it (``shop up``'s own handlers
    only set a flag that its loops read)."""
    from shop.cli.seed import seed_into  # the catalog's code: only when seeding

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)  # asyncio cancels cleanly
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = seed_into(env, products)
    except KeyboardInterrupt:
        print("Stopped while loading the demo catalog: the next start completes it.", flush=True)
        return False
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"Demo catalog: {seed_outcome(result)}", flush=True)
    return True


def seed_outcome(result: SeedResult) -> str:
    """What a seed did, in one sentence: loaded, completed, or found already there."""
    if result.products_created or result.images_created or result.categories_created:
        return result.summary()
    return f"all {result.products_skipped} products were already there; nothing to load."


@dataclass(frozen=True)
class ShopContents:
    has_products: bool
    has_admin: bool


async def _contents(products_url: str, auth_url: str) -> ShopContents:
    from shop.auth.models import Role, User
    from shop.products.models import Product

    async def ask(url: str, question: Exists) -> bool:
        engine = create_async_engine(
            to_async_database_url(url), poolclass=NullPool, connect_args={"timeout": 5}
        )
        try:
            async with engine.connect() as connection:
                return bool(await connection.scalar(select(question)))
        finally:
            await engine.dispose()

    return ShopContents(
        has_products=await ask(products_url, exists().select_from(Product)),
        has_admin=await ask(
            auth_url, exists().where(literal(Role.ADMIN.value) == any_(User.roles))
        ),
    )


def shop_contents(env: dict[str, str]) -> ShopContents | None:
    """Whether the shop has a product and an admin; None when that cannot be told (the
    hints are a courtesy: a database that does not answer is reported elsewhere)."""
    try:
        return asyncio.run(_contents(env["PRODUCTS_DATABASE_URL"], env["AUTH_DATABASE_URL"]))
    except Exception as exc:  # see above: any failure only leaves the hints out
        log.warning("could not look into the shop", error=f"{type(exc).__name__}: {exc}"[:300])
        return None


def next_steps(contents: ShopContents | None, dashboard_url: str, runtime_env: Path) -> list[str]:
    """Lines for the banner of ``shop up``: how to fill an empty shop, and how to get
    into the dashboard when nobody can."""
    if contents is None:
        return []
    load = f"set -a; . {_shown(runtime_env)}; set +a"
    lines = []
    if not contents.has_products:
        lines += [
            "The catalog is empty. Load the demo catalog: stop (Ctrl-C) and run `make demo`,",
            "or, in another terminal while this runs:",
            f"    {load}; .venv/bin/shop seed-demo",
        ]
    if not contents.has_admin:
        lines += [
            f"No admin can sign in to the dashboard ({dashboard_url}) yet. Create one:",
            f"    {load}; .venv/bin/shop create-admin EMAIL",
            "or start with BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD set.",
        ]
    return lines


def _shown(path: Path) -> str:
    """The path relative to the working directory when it is below it (`.data/...`)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
