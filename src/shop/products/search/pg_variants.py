"""What a search asks of a product's variants, in PostgreSQL: option filters, the price
range, stock, and the option facets.

A product matches when **one** of its active variants matches every variant filter
at once: it has one of the values asked of each option named, a price in the range,
and with ``in_stock=true`` units available (``in_stock=false``: a variant matches the
rest, and none of those that do has units). A size M and a red variant do not make
an "M, Red" product; an M at 20.00 and an L at 50.00 do not put a product in
"M, 40.00 to 60.00". Archived variants never count.

Option facets: for each option value of the variants of the result set, the number
of products the same search would find with that value asked instead of the
option's own filter (the other filters stay, the category's included): a facet's
count is the ``total`` one gets by choosing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import aliased
from sqlalchemy.orm.util import AliasedClass

from shop.products.models import Inventory, ProductVariant, VariantStatus
from shop.products.search.query import OptionFilters, ProductQuery

Variants = type[ProductVariant] | AliasedClass[ProductVariant]


@dataclass(frozen=True)
class VariantFilter:
    options: OptionFilters
    min_price: int | None
    max_price: int | None
    in_stock: bool | None

    @classmethod
    def of(cls, query: ProductQuery) -> VariantFilter:
        return cls(query.options, query.min_price, query.max_price, query.in_stock)

    @property
    def needed(self) -> bool:
        """Whether products must be checked variant by variant. A maximum price alone
        is not: ``products.price`` is the lowest active variant price."""
        return bool(self.options) or self.min_price is not None or self.in_stock is not None

    def conditions(self, variant: Variants, *, options: bool = True) -> list[ColumnElement[bool]]:
        """What a variant must be, stock aside (``options``: with the option filters)."""
        found: list[ColumnElement[bool]] = [variant.status == VariantStatus.ACTIVE]
        if options:
            found += [self.has_option(variant, name) for name in self.options]
        if self.min_price is not None:
            found.append(variant.price >= self.min_price)
        if self.max_price is not None:
            found.append(variant.price <= self.max_price)
        return found

    def has_option(self, variant: Variants, name: str) -> ColumnElement[bool]:
        """One of the values asked of ``name`` (``@>``: the GIN index of options)."""
        return or_(*(variant.options.contains({name: value}) for value in self.options[name]))

    def _some(
        self, product_id: ColumnElement[Any], *, stocked: bool, by_key: bool
    ) -> ColumnElement[bool]:
        variant = aliased(ProductVariant)
        query = select(literal(1)).select_from(variant)
        if stocked:
            query = query.join(Inventory, Inventory.variant_id == variant.id).where(
                Inventory.on_hand - Inventory.reserved > 0
            )
        query = query.where(variant.product_id == product_id, *self.conditions(variant))
        if by_key:
            # One lookup by the product's key per candidate (few: a text match), not a
            # join that may hash every variant.
            return query.limit(1).scalar_subquery().is_not(None)
        return exists(query)

    def matches(self, product_id: ColumnElement[Any], *, by_key: bool) -> ColumnElement[bool]:
        """The product (``product_id``) has a variant that matches (see the module)."""
        if self.in_stock is not False:
            return self._some(product_id, stocked=self.in_stock is True, by_key=by_key)
        none_stocked = ~self._some(product_id, stocked=True, by_key=by_key)
        if not self.options and self.min_price is None:
            # A product below the maximum price has an active variant below it.
            return none_stocked
        return and_(self._some(product_id, stocked=False, by_key=by_key), none_stocked)

    def option_counts(self, products: FromClause) -> Select[Any]:
        """``(name, value, products)`` of the variants of ``products`` (a FROM with an
        ``id`` column: the result set without the option filters)."""
        variant = aliased(ProductVariant)
        pair = (
            func.jsonb_each_text(variant.options)
            .table_valued("key", "value")
            .render_derived(name="pair")
        )
        # A value of an option asked is counted without that option's own filter.
        own_filter_aside = [
            or_(pair.c.key == name, self.has_option(variant, name)) for name in self.options
        ]
        where = [*self.conditions(variant, options=False), *own_filter_aside]
        # Per (pair, product) first, then per pair: two hash aggregates, where a
        # count(DISTINCT product) would sort every pair.
        columns: list[Any] = [pair.c.key.label("key"), pair.c.value.label("value")]
        if self.in_stock is not None:
            stocked = func.coalesce(Inventory.on_hand - Inventory.reserved, 0) > 0
            columns.append(func.bool_or(stocked).label("stocked"))
        per_product = select(*columns).select_from(variant)
        per_product = per_product.join(products, products.c.id == variant.product_id)
        if self.in_stock is not None:
            per_product = per_product.outerjoin(Inventory, Inventory.variant_id == variant.id)
        grouped = (
            per_product.join(pair, true())
            .where(*where)
            .group_by(pair.c.key, pair.c.value, variant.product_id)
            .subquery("per_product")
        )
        counted = select(grouped.c.key, grouped.c.value, func.count())
        if self.in_stock is not None:
            counted = counted.where(grouped.c.stocked if self.in_stock else ~grouped.c.stocked)
        return counted.group_by(grouped.c.key, grouped.c.value)
