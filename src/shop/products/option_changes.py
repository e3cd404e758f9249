"""Changing a product's options: ``PATCH /products/{id}`` with ``options``.

What a change may do, and what becomes of each variant, is decided without the
database (:func:`shop.products.options.plan_options_change`); this writes it in the
caller's transaction (flushes, never commits), after the caller has locked the
product row: the option rows, then every variant whose options or title change, so a
refusal leaves nothing written and a rename is seen whole or not at all. The
products row's search columns follow by its triggers on ``product_variants``; the
caller's announcement invalidates the read cache and re-indexes the product.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from shop.products.models import Product, VariantStatus
from shop.products.options import VariantChoice, plan_options_change
from shop.products.repositories import OptionRepository, VariantRepository
from shop.products.schemas import OptionChange
from shop.products.variants import declared, touch


async def change_options(
    session: AsyncSession, product: Product, edits: Sequence[OptionChange]
) -> bool:
    """The product's options become ``edits``; whether anything changed. ``product``
    is locked by the caller."""
    options = OptionRepository(session)
    variants = VariantRepository(session)
    rows = await options.of_product(product.id)
    current = declared(rows)
    existing = await variants.of_product(product.id)
    plan = plan_options_change(
        current,
        [
            VariantChoice(variant.sku, variant.options, variant.status == VariantStatus.ACTIVE)
            for variant in existing
        ],
        edits,
    )
    changed = [
        (variant, chosen, title)
        for variant, chosen, title in zip(existing, plan.choices, plan.titles, strict=True)
        if chosen != variant.options or title != variant.title
    ]
    options_differ = [(n, list(v)) for n, v in plan.options] != [(n, list(v)) for n, v in current]
    if not options_differ and not changed:
        return False
    if options_differ:
        await options.replace(product.id, rows, plan.options)
    await variants.rewrite_options(changed)
    await touch(session, product)
    return True
