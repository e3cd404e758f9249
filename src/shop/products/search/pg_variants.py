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

The products row carries what its active variants say (migration e4f1a7c3d925,
kept by triggers): ``price`` and ``max_price`` (their lowest and highest prices),
``stocked`` (one has units), ``option_pairs`` and ``stocked_pairs`` (their option
values, of all and of those in stock). Most products are decided by these alone:
one whose prices all lie in the range is in stock as filtered if it is in stock at
all; one whose prices all lie outside it never matches. Only a product whose
prices straddle a bound, or asked for options, is checked variant by variant (by
its key). Option facets count the pairs of the row, except for those products
(their variants are read).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    FromClause,
    Select,
    Text,
    all_,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlalchemy.orm.util import AliasedClass

from shop.products.models import Inventory, Product, ProductVariant, VariantStatus
from shop.products.search.query import OptionFilters, ProductQuery

Variants = type[ProductVariant] | AliasedClass[ProductVariant]

# The variants of one product, in a subquery per product (made once: an alias made per
# request costs the statement's construction a third more, in adapting its columns).
_SOME_VARIANT = aliased(ProductVariant, name="some_variant")
_FACET_VARIANT = aliased(ProductVariant, name="facet_variant")


def option_pair(name: str, value: str) -> str:
    """An option value as the products row spells it (``products.option_pairs``): what
    PostgreSQL prints for ``jsonb_build_array(name, value)``."""
    return json.dumps([name, value], ensure_ascii=False)


def read_option_pair(pair: str) -> tuple[str, str]:
    name, value = json.loads(pair)
    return str(name), str(value)


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

    # --- what the products row decides ------------------------------------------------

    def _in_range(self, price: ColumnElement[Any]) -> ColumnElement[bool]:
        bounds: list[ColumnElement[bool]] = [price.is_not(None)]
        if self.min_price is not None:
            bounds.append(price >= self.min_price)
        if self.max_price is not None:
            bounds.append(price <= self.max_price)
        return and_(*bounds)

    def _overlaps(self) -> ColumnElement[bool]:
        """Some active variant may be in the price range (false: none is)."""
        bounds: list[ColumnElement[bool]] = [Product.max_price.is_not(None)]
        if self.min_price is not None:
            bounds.append(Product.max_price >= self.min_price)
        if self.max_price is not None:
            bounds.append(Product.price <= self.max_price)
        return and_(*bounds)

    def _covers(self) -> ColumnElement[bool]:
        """Every active variant is in the price range (there is one)."""
        bounds: list[ColumnElement[bool]] = [Product.max_price.is_not(None)]
        if self.min_price is not None:
            bounds.append(Product.price >= self.min_price)
        if self.max_price is not None:
            bounds.append(Product.max_price <= self.max_price)
        return and_(*bounds)

    def _pairs_asked(self, name: str) -> list[str]:
        return [option_pair(name, value) for value in self.options[name]]

    # --- variant by variant -----------------------------------------------------------

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
        variant = _SOME_VARIANT
        query = select(literal(1)).select_from(variant)
        if stocked:
            query = query.join(Inventory, Inventory.variant_id == variant.id).where(
                Inventory.on_hand - Inventory.reserved > 0
            )
        query = query.where(variant.product_id == product_id, *self.conditions(variant))
        if by_key:
            # One lookup by the product's key per candidate, not a join that may hash
            # every variant.
            return query.limit(1).scalar_subquery().is_not(None)
        return exists(query)

    def _variant_by_variant(
        self, product_id: ColumnElement[Any], *, by_key: bool
    ) -> ColumnElement[bool]:
        if self.in_stock is not False:
            return self._some(product_id, stocked=self.in_stock is True, by_key=by_key)
        none_stocked = ~self._some(product_id, stocked=True, by_key=by_key)
        if not self.options and self.min_price is None:
            # A product below the maximum price has an active variant below it.
            return none_stocked
        return and_(self._some(product_id, stocked=False, by_key=by_key), none_stocked)

    def matches(self, product_id: ColumnElement[Any], *, by_key: bool) -> ColumnElement[bool]:
        """The product (``product_id``, a ``products`` row in the FROM) has a variant
        that matches (see the module): decided by the row where it can be, variant by
        variant for the others (a CASE: the variants are read only for those)."""
        by_variant = self._variant_by_variant(product_id, by_key=True)
        if self.options:
            stocked = self.in_stock is True
            pairs = Product.stocked_pairs if stocked else Product.option_pairs
            has_values = [pairs.overlap(self._pairs_asked(name)) for name in self.options]
            row = and_(self._overlaps(), *has_values)
            # Top level (not in a CASE), so that a listing may join the variants.
            return and_(row, self._variant_by_variant(product_id, by_key=by_key))
        if self.in_stock is None:  # a minimum price (else nothing is needed)
            return case(
                (not_(self._overlaps()), false()),
                (
                    or_(
                        self._in_range(Product.price.expression),
                        self._in_range(Product.max_price.expression),
                    ),
                    true(),
                ),
                else_=by_variant,
            )
        if self.in_stock:
            return case(
                (not_(and_(Product.stocked, self._overlaps())), false()),
                (self._covers(), true()),
                else_=by_variant,
            )
        if self.min_price is None:  # no stocked variant under the maximum price
            return case(
                (self._covers(), not_(Product.stocked)),
                (not_(Product.stocked), true()),
                else_=by_variant,
            )
        return case(
            (not_(self._overlaps()), false()),
            (self._covers(), not_(Product.stocked)),
            else_=by_variant,
        )

    # --- option facets ----------------------------------------------------------------

    def option_counts(self, products: FromClause) -> CompoundSelect[Any]:
        """``(pair, products)`` rows of the variants of ``products`` (a FROM with the
        ``id``, ``price``, ``max_price``, ``option_pairs`` and ``stocked_pairs`` of
        the result set without the option filters); a pair may come in two rows (add
        them up). From the row's pairs where every active variant of the product is in
        the price range and no option is asked, else from its variants."""
        by_row = false() if self.options else self._covers_row(products)
        return union_all(
            self._counts_by_row(products, by_row), self._counts_by_variant(products, by_row)
        )

    def _covers_row(self, products: FromClause) -> ColumnElement[bool]:
        price, top = products.c.price, products.c.max_price
        bounds: list[ColumnElement[bool]] = [top.is_not(None)]
        if self.min_price is not None:
            bounds.append(price >= self.min_price)
        if self.max_price is not None:
            bounds.append(top <= self.max_price)
        return and_(*bounds)

    def _counts_by_row(self, products: FromClause, by_row: ColumnElement[bool]) -> Select[Any]:
        source = products.c.stocked_pairs if self.in_stock else products.c.option_pairs
        pair = func.unnest(source).table_valued("pair").render_derived(name="row_pair")
        query = select(pair.c.pair, func.count()).select_from(products).join(pair, true())
        query = query.where(by_row, func.cardinality(source) > 0)
        if self.in_stock is False:  # values of which no variant has units
            query = query.where(pair.c.pair != all_(products.c.stocked_pairs))
        return query.group_by(pair.c.pair)

    def _counts_by_variant(self, products: FromClause, by_row: ColumnElement[bool]) -> Select[Any]:
        variant = _FACET_VARIANT
        pair = (
            func.jsonb_each_text(variant.options)
            .table_valued("key", "value")
            .render_derived(name="pair")
        )
        # A value of an option asked is counted without that option's own filter.
        own_filter_aside = [
            or_(pair.c.key == name, self.has_option(variant, name)) for name in self.options
        ]
        spelled = cast(func.jsonb_build_array(pair.c.key, pair.c.value), Text)
        columns: list[Any] = [spelled.label("pair")]
        if self.in_stock is not None:
            stocked = func.coalesce(Inventory.on_hand - Inventory.reserved, 0) > 0
            columns.append(func.bool_or(stocked).label("stocked"))
        of_product = select(*columns).select_from(variant)
        if self.in_stock is not None:
            of_product = of_product.outerjoin(Inventory, Inventory.variant_id == variant.id)
        # The pairs of one product (LATERAL): its variants found by its key, product
        # after product. A join would let the planner hash or sort every variant in the
        # price range when it overestimates how many products get here (it does: the
        # rows it expects from ~by_row are thousands where there are often none).
        per_product = (
            of_product.join(pair, true())
            .where(
                variant.product_id == products.c.id,
                *self.conditions(variant, options=False),
                *own_filter_aside,
            )
            .group_by(pair.c.key, pair.c.value)
            .lateral("per_product")
        )
        counted = (
            select(per_product.c.pair, func.count())
            .select_from(products)
            .join(per_product, true())
            .where(~by_row, func.cardinality(products.c.option_pairs) > 0)
        )
        if self.in_stock is not None:
            counted = counted.where(
                per_product.c.stocked if self.in_stock else ~per_product.c.stocked
            )
        return counted.group_by(per_product.c.pair)
