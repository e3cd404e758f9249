"""The transaction rule of docs/architecture.md, read from the code of auth and orders.

A function that takes a session (``AsyncSession``, the request's ``Session``, or
auth's per-request ``Auth``) works in its caller's transaction: it never commits,
rolls back or opens a unit of work. A function that opens units of work takes no
session. Only ``shop.kit.db.unit_of_work`` (which the request's session dependency
uses) commits.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import shop

SERVICES = ("auth", "orders")
# Parameter types that carry the caller's session.
IN_TRANSACTION = {"AsyncSession", "Session", "Auth"}
# Parameter types that open units of work.
OPENS_UNITS = {"Orders", "async_sessionmaker[AsyncSession]"}
TRANSACTION_CONTROL = {"commit", "rollback", "begin"}

Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class Found:
    name: str
    parameter_types: set[str]
    opens_units: bool
    controls_session: list[str]


def _calls(function: Function) -> Iterator[ast.Call]:
    return (node for node in ast.walk(function) if isinstance(node, ast.Call))


def _opens_units(function: Function) -> bool:
    return any(ast.unparse(call.func).endswith("unit_of_work") for call in _calls(function))


def _controls_session(function: Function) -> list[str]:
    """Calls such as ``session.commit()``; not ``orders.products.commit(...)`` (HTTP)."""
    return [
        ast.unparse(call)
        for call in _calls(function)
        if isinstance(call.func, ast.Attribute)
        and call.func.attr in TRANSACTION_CONTROL
        and "session" in ast.unparse(call.func.value)
    ]


def functions() -> list[Found]:
    found = []
    for service in SERVICES:
        root = Path(shop.__file__).parent / service
        for path in sorted(root.glob("*.py")):
            module = f"shop.{service}.{path.stem}"
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                    types = {ast.unparse(a.annotation) for a in arguments if a.annotation}
                    found.append(
                        Found(
                            f"{module}.{node.name}",
                            types,
                            _opens_units(node),
                            _controls_session(node),
                        )
                    )
    return found


FUNCTIONS = functions()


def test_the_scan_sees_both_kinds() -> None:
    in_transaction = {f.name for f in FUNCTIONS if f.parameter_types & IN_TRANSACTION}
    opening = {f.name for f in FUNCTIONS if f.opens_units}
    assert {"shop.orders.service.change_status", "shop.auth.service.register"} <= in_transaction
    assert {
        "shop.orders.cancellation.cancel_order",
        "shop.orders.placement.settle",
        "shop.auth.app.bootstrap_admin",
    } <= opening


@pytest.mark.parametrize("function", FUNCTIONS, ids=[f.name for f in FUNCTIONS])
def test_one_transaction_style_per_function(function: Found) -> None:
    assert not function.controls_session, "commit only in shop.kit.db.unit_of_work"
    if function.parameter_types & IN_TRANSACTION:
        assert not function.opens_units, "a function given a session works in its transaction"
        assert not function.parameter_types & OPENS_UNITS
    if function.opens_units:
        assert not function.parameter_types & IN_TRANSACTION
