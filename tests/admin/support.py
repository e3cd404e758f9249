"""The dashboard as a browser sees it: signed-in HTTP clients, parsed pages, and the
public API beside it to check what the pages did."""

from __future__ import annotations

import email
import email.message
import email.policy
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from bs4 import BeautifulSoup, Tag

from tests.e2e.system import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem

CUSTOMER_PASSWORD = "a customer's long and unusual passphrase"
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


def parse(response: httpx.Response) -> BeautifulSoup:
    assert response.headers["content-type"].startswith("text/html"), response.text[:500]
    return BeautifulSoup(response.text, "html.parser")


def csrf_of(page: BeautifulSoup) -> str:
    field = page.find("input", attrs={"name": "csrf_token"})
    assert isinstance(field, Tag), "the page has no form with a CSRF token"
    return str(field["value"])


def error_for(page: BeautifulSoup, name: str) -> str:
    """The error shown next to the input named ``name`` (the one that is invalid)."""
    for field in page.find_all(attrs={"name": name}):
        if field.get("aria-invalid") == "true":
            described = page.find(id=str(field["aria-describedby"]))
            assert isinstance(described, Tag)
            return described.get_text(" ", strip=True)
    raise AssertionError(f"no error next to {name!r}")


def value_of(page: BeautifulSoup, name: str) -> str:
    field = page.find(attrs={"name": name})
    assert isinstance(field, Tag), name
    if field.name == "textarea":
        return field.get_text()
    if field.name == "select":
        chosen = field.find("option", selected=True)
        return str(chosen["value"]) if isinstance(chosen, Tag) else ""
    return str(field.get("value", ""))


def alert_text(page: BeautifulSoup) -> str:
    return " ".join(a.get_text(" ", strip=True) for a in page.select('[role="alert"]'))


def status_text(page: BeautifulSoup) -> str:
    return " ".join(a.get_text(" ", strip=True) for a in page.select('[role="status"]'))


def dashboard(system: RunningSystem, **kwargs: Any) -> httpx.Client:
    """A browser-like client of the dashboard through the gateway (cookies kept,
    redirects not followed, so each answer can be checked)."""
    return httpx.Client(base_url=system.url(), timeout=60, **kwargs)


def sign_in(
    client: httpx.Client, email_address: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD
) -> httpx.Response:
    token = csrf_of(parse(client.get("/admin/login")))
    return client.post(
        "/admin/login", data={"email": email_address, "password": password, "csrf_token": token}
    )


@contextmanager
def signed_in(system: RunningSystem) -> Iterator[httpx.Client]:
    with dashboard(system) as client:
        answer = sign_in(client)
        assert answer.status_code == 303, answer.text
        yield client


def post_form(
    client: httpx.Client, page_path: str, action: str, data: dict[str, str]
) -> httpx.Response:
    """Posts ``data`` to ``action`` with the CSRF token of the page at ``page_path``, as
    a browser submitting that page's form would."""
    token = csrf_of(parse(client.get(page_path)))
    return client.post(action, data={**data, "csrf_token": token})


class Api:
    """The public API through the gateway, as a test checks what the pages did."""

    def __init__(self, system: RunningSystem, token: str | None = None) -> None:
        self.system = system
        self.client = httpx.Client(base_url=system.url() + "/api/v1", timeout=60)
        if token:
            self.client.headers["authorization"] = f"Bearer {token}"

    @classmethod
    def as_admin(cls, system: RunningSystem) -> Api:
        return cls(system, login(system, ADMIN_EMAIL, ADMIN_PASSWORD)["access_token"])

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: Any, status: int = 201) -> Any:
        response = self.client.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json() if response.content else None


def login(system: RunningSystem, address: str, password: str) -> dict[str, Any]:
    response = httpx.post(
        system.url() + "/api/v1/auth/login", json={"email": address, "password": password}
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def _verification_token(mail_dir: Path, to: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for path in mail_dir.glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, email.message.EmailMessage)
            body = message.get_body(("plain",))
            if message["To"] == to and body is not None:
                match = re.search(r"token=([\w-]+)", body.get_content())
                if match:
                    return match.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no email to {to}")


def new_customer(system: RunningSystem, name: str = "Ada Lovelace") -> tuple[str, Api]:
    """A verified customer with a unique email, and the API as they call it."""
    address = f"customer-{uuid.uuid4().hex[:10]}@example.com"
    api = Api(system)
    api.post("/auth/register", {"email": address, "password": CUSTOMER_PASSWORD, "full_name": name})
    token = _verification_token(system.data_dir / "mail", address)
    api.post("/auth/verify-email", {"token": token}, status=200)
    return address, Api(system, login(system, address, CUSTOMER_PASSWORD)["access_token"])


def variant_form(
    sku: str, options: list[tuple[str, list[str]]], variants: list[dict[str, str]]
) -> dict[str, str]:
    """The new-product form's fields for a product with these options and variants."""
    data = {"name": f"Product {sku}", "sku": sku, "status": "active", "action": "create"}
    data["rows"] = str(max(4, len(variants)))
    for index, (name, values) in enumerate(options):
        data[f"options-{index}-name"] = name
        data[f"options-{index}-values"] = ", ".join(values)
    for index, variant in enumerate(variants):
        for key, value in variant.items():
            data[f"variants-{index}-{key}"] = value
    return data


def low_stock_rows(client: httpx.Client, threshold: int, pages: int = 50) -> list[dict[str, str]]:
    """The overview's low-stock table at ``threshold``, every page of it (following
    its "More low stock" link): each row's cells by column, and the product's link."""
    rows: list[dict[str, str]] = []
    path: str | None = f"/admin/?threshold={threshold}"
    for _ in range(pages):
        if path is None:
            return rows
        page = parse(client.get(path))
        table = page.select_one("#stock-title ~ table")
        if table is None:
            return rows
        columns = [th.get_text(strip=True) for th in table.select("thead th")]
        for tr in table.select("tbody tr"):
            cells = [cell.get_text(" ", strip=True) for cell in tr.find_all(["th", "td"])]
            link = tr.find("a")
            assert isinstance(link, Tag)
            rows.append({**dict(zip(columns, cells, strict=True)), "href": str(link["href"])})
        more = page.find("a", string="More low stock")
        path = str(more["href"]) if isinstance(more, Tag) else None
    raise AssertionError(f"more than {pages} pages of low stock")
