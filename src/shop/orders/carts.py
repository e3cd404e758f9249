"""The carts use cases: create, read and change a cart, merge a guest's into a user's.

Who may touch a cart: a user's cart only that user (anyone else gets 404, as for an
unknown id); a guest cart anyone holding its random id. A change locks the cart's row
in a transaction of its own (changes of one cart queue), and renews its expiry; the
answer is the cart read again, priced from the catalog (shop.orders.cart_view), after
that transaction: no transaction is open during a call to products.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.contracts.sellable import SellableRef
from shop.kit.contracts.sellables import MissReason, SellableOut
from shop.kit.db import unit_of_work
from shop.kit.identity import Identity
from shop.orders.cart_models import Cart, CartLine, CartStatus
from shop.orders.cart_repository import CartRepository
from shop.orders.cart_schemas import CartIn, CartItemIn, ShippingOptionOut
from shop.orders.cart_view import PricedCart, load_rules, price_cart
from shop.orders.context import Orders
from shop.orders.errors import (
    CartCompletedError,
    CartItemNotFoundError,
    CartNotFoundError,
    CatalogUnavailableError,
    InvalidFieldError,
    ProductsNotOrderableError,
    ShippingMethodNotOfferedError,
    VariantRequiredError,
)
from shop.orders.pricing_lookup import offered_method, shipping_options
from shop.orders.products_client import ProductsUnavailableError
from shop.orders.promotion_uses import Customer, check_code
from shop.orders.schemas import AddressIn

Change = Callable[[AsyncSession, Cart], Awaitable[None]]


def visible(cart: Cart | None, identity: Identity | None) -> Cart:
    """``cart`` if the caller may touch it: its user's, or a guest cart; else 404."""
    if cart is None or (
        cart.user_id is not None and (identity is None or identity.user_id != cart.user_id)
    ):
        raise CartNotFoundError("No such cart.")
    return cart


def _ttl(orders: Orders) -> timedelta:
    return timedelta(days=orders.settings.cart_ttl_days)


def customer_of(cart: Cart) -> Customer:
    return Customer(user_id=cart.user_id, email=cart.email or "")


async def create_cart(orders: Orders, identity: Identity | None, body: CartIn) -> PricedCart:
    cart_id = uuid.uuid4()  # random: a guest cart's only key
    async with unit_of_work(orders.sessionmaker) as session:
        repository = CartRepository(session)
        email = body.email or (identity.email if identity is not None else None)
        cart = Cart(
            id=cart_id,
            user_id=None if identity is None else identity.user_id,
            email=email,
            status=CartStatus.OPEN,
            expires_at=datetime.now(UTC) + _ttl(orders),
        )
        await repository.add(cart)
        await repository.touch(cart, _ttl(orders))
    return await read_cart(orders, identity, cart_id)


async def read_cart(orders: Orders, identity: Identity | None, cart_id: uuid.UUID) -> PricedCart:
    async with unit_of_work(orders.sessionmaker) as session:
        cart = visible(await CartRepository(session).get(cart_id), identity)
        rules = await load_rules(session, cart)
    catalog = await catalog_of(orders, cart)
    return price_cart(
        cart,
        rules,
        catalog,
        prices_include_tax=orders.settings.prices_include_tax,
        now=datetime.now(UTC),
    )


async def catalog_of(orders: Orders, cart: Cart) -> dict[uuid.UUID, SellableOut]:
    """The catalog's current answer for the cart's lines: one call at most (cached)."""
    if not cart.lines:
        return {}
    try:
        return await orders.catalog.variants(line.variant_id for line in cart.lines)
    except ProductsUnavailableError as exc:
        raise CatalogUnavailableError("The catalog could not be reached; try again.") from exc


async def change_cart(
    orders: Orders, identity: Identity | None, cart_id: uuid.UUID, change: Change
) -> PricedCart:
    """Applies ``change`` to the open cart under its row lock, then answers it read again."""
    async with unit_of_work(orders.sessionmaker) as session:
        repository = CartRepository(session)
        cart = visible(await repository.get(cart_id, lock=True), identity)
        if cart.status is not CartStatus.OPEN:
            raise CartCompletedError("This cart was checked out; it changes no more.")
        await change(session, cart)
        await repository.touch(cart, _ttl(orders))
    return await read_cart(orders, identity, cart_id)


async def _resolve(orders: Orders, item: CartItemIn) -> SellableOut:
    """The variant an item names, as the catalog has it now; 422 unless it can be sold."""
    field = "variant_id" if item.variant_id is not None else "product_id"
    try:
        answer = await orders.catalog.resolve(
            SellableRef(product_id=item.product_id, variant_id=item.variant_id)
        )
    except ProductsUnavailableError as exc:
        raise CatalogUnavailableError("The catalog could not be reached; try again.") from exc
    if answer.missing and answer.missing[0].reason is MissReason.VARIANT_REQUIRED:
        raise VariantRequiredError(
            "This product has several variants; name the variant_id.",
            errors=[{"field": "variant_id", "message": "required for this product"}],
        )
    if not answer.items or not answer.items[0].orderable:
        raise ProductsNotOrderableError(
            "This product does not exist or cannot be ordered.",
            errors=[{"field": field, "message": "unknown or not sold"}],
        )
    return answer.items[0]


def _check_quantity(orders: Orders, quantity: int) -> None:
    most = orders.settings.max_line_quantity
    if quantity > most:
        raise InvalidFieldError("quantity", f"must be at most {most}")


def add_line(orders: Orders, cart: Cart, variant: SellableOut | CartLine, quantity: int) -> None:
    """Adds ``quantity`` of the variant to its line (a new line at the end if none)."""
    for line in cart.lines:
        if line.variant_id == variant.variant_id:
            _check_quantity(orders, line.quantity + quantity)
            line.quantity += quantity
            return
    _check_quantity(orders, quantity)
    most = orders.settings.max_cart_lines
    if len(cart.lines) >= most:
        raise InvalidFieldError("items", f"a cart holds at most {most} lines")
    position = max((line.position for line in cart.lines), default=-1) + 1
    cart.lines.append(
        CartLine(
            id=uuid.uuid4(),
            cart_id=cart.id,
            position=position,
            product_id=variant.product_id,
            variant_id=variant.variant_id,
            quantity=quantity,
        )
    )


async def add_item(
    orders: Orders, identity: Identity | None, cart_id: uuid.UUID, item: CartItemIn
) -> PricedCart:
    _check_quantity(orders, item.quantity)
    variant = await _resolve(orders, item)

    async def add(session: AsyncSession, cart: Cart) -> None:
        add_line(orders, cart, variant, item.quantity)

    return await change_cart(orders, identity, cart_id, add)


def _line(cart: Cart, item_id: uuid.UUID) -> CartLine:
    for line in cart.lines:
        if line.id == item_id:
            return line
    raise CartItemNotFoundError("The cart has no such item.")


async def set_quantity(
    orders: Orders, identity: Identity | None, cart_id: uuid.UUID, item_id: uuid.UUID, quantity: int
) -> PricedCart:
    _check_quantity(orders, quantity)

    async def change(session: AsyncSession, cart: Cart) -> None:
        line = _line(cart, item_id)
        if quantity == 0:
            cart.lines.remove(line)
        else:
            line.quantity = quantity

    return await change_cart(orders, identity, cart_id, change)


async def remove_item(
    orders: Orders, identity: Identity | None, cart_id: uuid.UUID, item_id: uuid.UUID
) -> PricedCart:
    async def change(session: AsyncSession, cart: Cart) -> None:
        cart.lines.remove(_line(cart, item_id))

    return await change_cart(orders, identity, cart_id, change)


async def set_email(
    orders: Orders, identity: Identity | None, cart_id: uuid.UUID, email: str
) -> PricedCart:
    async def change(session: AsyncSession, cart: Cart) -> None:
        cart.email = email

    return await change_cart(orders, identity, cart_id, change)


async def set_address(
    orders: Orders, identity: Identity | None, cart_id: uuid.UUID, address: AddressIn
) -> PricedCart:
    async def change(session: AsyncSession, cart: Cart) -> None:
        cart.shipping_address = address.model_dump(mode="json")

    return await change_cart(orders, identity, cart_id, change)


def _country(cart: Cart) -> str:
    if cart.shipping_address is None:
        raise InvalidFieldError("shipping_address", "set the cart's shipping address first")
    country: str = cart.shipping_address["country"]
    return country


async def set_method(
    orders: Orders, identity: Identity | None, cart_id: uuid.UUID, method_id: uuid.UUID
) -> PricedCart:
    async def change(session: AsyncSession, cart: Cart) -> None:
        if await offered_method(session, method_id, _country(cart)) is None:
            raise ShippingMethodNotOfferedError()
        cart.shipping_method_id = method_id

    return await change_cart(orders, identity, cart_id, change)


async def options(
    orders: Orders, identity: Identity | None, cart_id: uuid.UUID
) -> list[ShippingOptionOut]:
    priced = await read_cart(orders, identity, cart_id)
    address = priced.out.shipping_address
    if address is None:
        raise InvalidFieldError("shipping_address", "set the cart's shipping address first")
    async with unit_of_work(orders.sessionmaker) as session:
        offered = await shipping_options(session, address.country, priced.out.subtotal)
    return [ShippingOptionOut.model_validate(option, from_attributes=True) for option in offered]


async def apply_code(
    orders: Orders, identity: Identity | None, cart_id: uuid.UUID, code: str
) -> PricedCart:
    """Checks the code against the cart as it is priced now (422 with ``reason``)."""
    subtotal = (await read_cart(orders, identity, cart_id)).out.subtotal

    async def change(session: AsyncSession, cart: Cart) -> None:
        now = datetime.now(UTC)
        await check_code(session, code, subtotal=subtotal, customer=customer_of(cart), now=now)
        cart.promotion_code = code

    return await change_cart(orders, identity, cart_id, change)


async def remove_code(
    orders: Orders, identity: Identity | None, cart_id: uuid.UUID, code: str
) -> PricedCart:
    async def change(session: AsyncSession, cart: Cart) -> None:
        if cart.promotion_code is None or cart.promotion_code.lower() != code.lower():
            raise InvalidFieldError("code", "the cart does not use this code")
        cart.promotion_code = None

    return await change_cart(orders, identity, cart_id, change)


async def merge(
    orders: Orders, identity: Identity, cart_id: uuid.UUID, guest_cart_id: uuid.UUID
) -> PricedCart:
    """The guest cart's lines join the user's cart (quantities of one variant added up,
    within MAX_LINE_QUANTITY), with its email, address, method and code where the user's
    cart has none; the guest cart is then gone."""
    async with unit_of_work(orders.sessionmaker) as session:
        repository = CartRepository(session)
        first, second = sorted([cart_id, guest_cart_id])  # locks always in one order
        locked = {first: await repository.get(first, lock=True)}
        locked[second] = await repository.get(second, lock=True)
        cart = locked[cart_id]
        if cart is None or cart.user_id != identity.user_id or cart_id == guest_cart_id:
            raise CartNotFoundError("No such cart.")
        guest = locked[guest_cart_id]
        if guest is None or guest.user_id is not None:
            raise CartNotFoundError(
                "No such guest cart.",
                errors=[{"field": "guest_cart_id", "message": "no such guest cart"}],
            )
        if cart.status is not CartStatus.OPEN or guest.status is not CartStatus.OPEN:
            raise CartCompletedError("A checked-out cart can't be merged.")
        for line in guest.lines:
            add_line(orders, cart, line, line.quantity)
        cart.email = cart.email or guest.email
        cart.shipping_address = cart.shipping_address or guest.shipping_address
        cart.shipping_method_id = cart.shipping_method_id or guest.shipping_method_id
        cart.promotion_code = cart.promotion_code or guest.promotion_code
        await repository.touch(cart, _ttl(orders))
        await repository.delete(guest)
    return await read_cart(orders, identity, cart_id)
