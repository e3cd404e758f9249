"""The reservation API's contract (shop.kit.contracts.reservations) is what products
answers: each problem type it lists is one products error, and its bodies are the
ones the use cases build."""

from __future__ import annotations

import inspect
import uuid

from shop.kit.contracts.reservations import (
    NotOrderableLine,
    ReservationProblem,
    ReservationRefusal,
    ReservationStatus,
    ShortLine,
)
from shop.kit.errors import ShopError
from shop.products import errors
from shop.products.models import Reservation


def _products_errors() -> list[type[ShopError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, ShopError) and cls.__module__ == errors.__name__
    ]


def test_every_refusal_of_the_contract_is_one_products_error() -> None:
    slugs = [cls.type_slug for cls in _products_errors()]
    for refusal in ReservationRefusal:
        assert slugs.count(refusal) == 1, refusal


def test_the_reservation_table_stores_the_contracts_states() -> None:
    column = Reservation.__table__.c.status
    assert list(column.type.enums) == [status.value for status in ReservationStatus]


def test_a_refusal_parses_back_into_the_contract() -> None:
    product_id = uuid.uuid4()
    short = ShortLine(product_id=product_id, requested=3, available=1).model_dump(mode="json")
    response = errors.InsufficientStockError("Not enough.", errors=[short]).to_response()
    problem = ReservationProblem.model_validate_json(bytes(response.body))
    assert problem.refusal is ReservationRefusal.INSUFFICIENT_STOCK
    assert [ShortLine.model_validate(e) for e in problem.errors] == [
        ShortLine(product_id=product_id, requested=3, available=1)
    ]
    line = NotOrderableLine(
        field="lines.0.product_id",
        message="no such product",
        product_id=product_id,
        reason="unknown",
    )
    response = errors.ProductsNotOrderableError(errors=[line.model_dump(mode="json")]).to_response()
    problem = ReservationProblem.model_validate_json(bytes(response.body))
    assert problem.refusal is ReservationRefusal.PRODUCTS_NOT_ORDERABLE
    assert NotOrderableLine.model_validate(problem.errors[0]) == line


def test_a_problem_the_contract_does_not_list_has_no_refusal() -> None:
    problem = ReservationProblem.model_validate({"type": "https://shop.dev/problems/validation"})
    assert problem.slug == "validation"
    assert problem.refusal is None
