"""Tables of ``products_db``: the catalog (products, their options and variants), stock
per variant and its ledger, reservations, images."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shop.kit.contracts.reservations import ReservationStatus
from shop.kit.db_schema import TYPE_ANNOTATION_MAP, new_metadata
from shop.kit.outbox import outbox_table

__all__ = [  # ReservationStatus is the reservation API's (shop.kit.contracts)
    "Base",
    "Category",
    "Inventory",
    "Product",
    "ProductImage",
    "ProductOption",
    "ProductStatus",
    "ProductVariant",
    "Reservation",
    "ReservationLine",
    "ReservationStatus",
    "StockMovement",
    "StockReason",
    "VariantStatus",
    "outbox",
]


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


def _enum(kind: type[enum.Enum], name: str) -> Enum:
    return Enum(kind, name=name, values_callable=lambda e: [m.value for m in e])


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(140), unique=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("categories.id", ondelete="RESTRICT"), index=True
    )
    # Ids from the root down to this category, "/"-joined: a subtree is a prefix match.
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        Index("ix_categories_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
    )


class ProductStatus(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


class Product(Base):
    """A product. ``sku`` is the product's own (its default variant's, for a product
    without options); ``price`` is derived: the lowest price among its active variants,
    kept by every variant write (shop.products.variants), so that listings sort and
    filter on one column."""

    __tablename__ = "products"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    slug: Mapped[str] = mapped_column(String(140), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("categories.id", ondelete="RESTRICT"), index=True
    )
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    status: Mapped[ProductStatus] = mapped_column(
        _enum(ProductStatus, "product_status"), default=ProductStatus.DRAFT, index=True
    )
    # Maintained by the search module on every write (name, SKU, description, category).
    search_vector: Mapped[str | None] = mapped_column(TSVECTOR, deferred=True)
    # What search filters need of the active variants, kept by triggers on variants
    # and inventory (migration e4f1a7c3d925; see shop.products.search.pg_variants):
    # the highest price, whether one has units available, and the option values of
    # all of them and of those in stock, as JSON pairs '["Size", "M"]'.
    max_price: Mapped[int | None] = mapped_column(BigInteger, deferred=True)
    stocked: Mapped[bool] = mapped_column(default=False, server_default=false(), deferred=True)
    option_pairs: Mapped[list[str]] = mapped_column(
        ARRAY(Text), default=list, server_default=text("'{}'::text[]"), deferred=True
    )
    stocked_pairs: Mapped[list[str]] = mapped_column(
        ARRAY(Text), default=list, server_default=text("'{}'::text[]"), deferred=True
    )
    # The last hexadecimal digit of the id (random): '0' puts one product in 16 in the
    # sample that estimates the counts of large listings, for good.
    sample: Mapped[str] = mapped_column(
        Text, Computed("right((id)::text, 1)", persisted=True), deferred=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        # Search (migration dc482363701d, which also adds a trigram index on
        # shop_unaccent(name) and the triggers that fill search_vector).
        Index("ix_products_search_vector", "search_vector", postgresql_using="gin"),
        Index("ix_products_status_created_at", "status", "created_at", "id"),
        Index("ix_products_status_price", "status", "price", "id"),
        Index("ix_products_status_name", "status", "name", "id"),
        # Counts by category (totals, facets), price and stock filters included, by an
        # index-only scan: of every product, or of the one-in-16 sample (``sample``
        # '0': shop.products.search.pg_counts; migration e4f1a7c3d925).
        Index(
            "ix_products_status_sample_category",
            "status",
            "sample",
            "category_id",
            postgresql_include=["price", "max_price", "stocked", "id"],
        ),
    )


class ProductOption(Base):
    """One of a product's (up to three) options, such as Size, with its ordered values."""

    __tablename__ = "product_options"

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    values: Mapped[list[str]] = mapped_column(JSONB)

    __table_args__ = (
        UniqueConstraint("product_id", "name", name="uq_product_options_product_id_name"),
        CheckConstraint("position BETWEEN 0 AND 2", name="at_most_three"),
    )


class VariantStatus(enum.StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class ProductVariant(Base):
    """One sellable unit of a product: its SKU, option values, price and stock."""

    __tablename__ = "product_variants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    # Unique across the catalog: order lines and the warehouse know a unit by it.
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    # The option values in the options' order, " / "-joined ("M / Red"); "" for a default.
    title: Mapped[str] = mapped_column(String(320), default="")
    options: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    price: Mapped[int] = mapped_column(BigInteger)
    compare_at_price: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[VariantStatus] = mapped_column(
        _enum(VariantStatus, "variant_status"), default=VariantStatus.ACTIVE
    )
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    image_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("product_images.id", ondelete="SET NULL")
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("compare_at_price >= 0", name="compare_at_price_not_negative"),
        CheckConstraint("weight_grams >= 0", name="weight_not_negative"),
        # Two active variants of a product never share a combination (archived ones may).
        Index(
            "uq_product_variants_active_combination",
            "product_id",
            "options",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
        # Search (migration 7d1e4a9c2b6f): option filters (@>) and price ranges over
        # active variants.
        Index(
            "ix_product_variants_active_options",
            "options",
            postgresql_using="gin",
            postgresql_ops={"options": "jsonb_path_ops"},
            postgresql_where=text("status = 'active'"),
        ),
        Index(
            "ix_product_variants_active_price",
            "price",
            "product_id",
            postgresql_where=text("status = 'active'"),
        ),
    )


class Inventory(Base):
    """Stock of one variant. Reservations hold units without taking them off the shelf.
    ``product_id`` is the variant's product, kept here for per-product sums (search)."""

    __tablename__ = "inventory"

    variant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("product_variants.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="available_not_negative"),
    )

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockReason(enum.StrEnum):
    ADJUSTMENT = "adjustment"
    RESERVATION = "reservation"
    RELEASE = "release"
    COMMIT = "commit"
    EXPIRY = "expiry"


class StockMovement(Base):
    """The ledger: every change of stock, who made it and why."""

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("product_variants.id", ondelete="CASCADE"), index=True
    )
    on_hand_delta: Mapped[int] = mapped_column(Integer, default=0)
    reserved_delta: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[StockReason] = mapped_column(_enum(StockReason, "stock_reason"))
    note: Mapped[str] = mapped_column(String(500), default="")
    actor: Mapped[str] = mapped_column(String(100))
    order_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Reservation(Base):
    """Units held for one order, keyed by the order's id so retries are no-ops."""

    __tablename__ = "reservations"

    order_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    status: Mapped[ReservationStatus] = mapped_column(
        _enum(ReservationStatus, "reservation_status"), default=ReservationStatus.HELD
    )
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        Index("ix_reservations_expiry", "expires_at", postgresql_where="status = 'held'"),
    )


class ReservationLine(Base):
    """One variant of a reservation, with the catalog's price, name, SKU and variant title
    at that time."""

    __tablename__ = "reservation_lines"

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reservations.order_id", ondelete="CASCADE"), primary_key=True
    )
    variant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("product_variants.id", ondelete="RESTRICT"), primary_key=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(64))
    variant_title: Mapped[str] = mapped_column(String(320), default="")

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)


class ProductImage(Base):
    __tablename__ = "product_images"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    storage_key: Mapped[str] = mapped_column(String(300))
    thumbnail_key: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(50))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


outbox = outbox_table(Base.metadata)
