"""compose.yaml: its structure, and that it sets only settings the code reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.settings_names import default_port, known_names

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
SHOP = ("gateway", "auth", "products", "orders", "admin")
# The services of the API, which verify access tokens (the dashboard is their client).
API = ("gateway", "auth", "products", "orders")
SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "PRIVATE_KEY", "DATABASE_URL")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def builds_the_shop(service: dict[str, Any]) -> bool:
    return service.get("build", {}).get("context") == "."


def shop_program(service: dict[str, Any]) -> str:
    """The service a shop container serves, or "cli" for another command."""
    command = service["command"]
    return command[1] if command[0] == "serve" else "cli"


def instances(program: str) -> list[str]:
    return [
        name for name, s in SERVICES.items() if builds_the_shop(s) and shop_program(s) == program
    ]


def depends(name: str) -> set[str]:
    """Everything ``name`` waits for, directly or not."""
    direct = set(SERVICES[name].get("depends_on", {}))
    return direct.union(*(depends(d) for d in direct)) if direct else set()


def test_every_service_has_an_image_or_a_build() -> None:
    for name, service in SERVICES.items():
        assert "image" in service or "build" in service, name


def test_depends_on_names_services_and_waits_for_a_condition() -> None:
    for name, service in SERVICES.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for target, rule in depends_on.items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[target], f"{target} has no health check"
            else:
                assert rule["condition"] == "service_completed_successfully"
                assert SERVICES[target].get("restart") == "no", f"{target} is not one-shot"


def test_long_running_services_have_health_checks() -> None:
    for name, service in SERVICES.items():
        if service.get("restart") != "no":
            assert service["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_infrastructure_is_there() -> None:
    images = " ".join(str(s.get("image", "")) for s in SERVICES.values())
    for image in ("postgres:16", "redis:7", "elasticsearch:", "minio/", "axllent/mailpit"):
        assert image in images


def test_the_four_services_and_the_migration_run_from_the_image() -> None:
    for program in SHOP:
        assert instances(program), program
    assert len(instances("products")) == 2
    migrate = SERVICES["migrate"]
    assert builds_the_shop(migrate)
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    for program in SHOP:
        for name in instances(program):
            assert SERVICES[name]["command"] == ["serve", program]
            assert "migrate" in depends(name), f"{name} may start before the migrations"


@pytest.mark.parametrize("name", [n for n, s in SERVICES.items() if builds_the_shop(s)])
def test_shop_containers_set_only_settings_the_code_reads(name: str) -> None:
    program = shop_program(SERVICES[name])
    unknown = set(environment(SERVICES[name])) - known_names(program)
    assert not unknown, f"{name} ({program}) reads no {sorted(unknown)}"


@pytest.mark.parametrize("program", SHOP)
def test_health_checks_ask_the_service_on_its_port(program: str) -> None:
    for name in instances(program):
        env = environment(SERVICES[name])
        port = env.get(f"{program.upper()}_PORT", default_port(program))
        test = " ".join(SERVICES[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/health/ready" in test
        assert env["BIND_HOST"] == "0.0.0.0"  # noqa: S104 - inside a container


def assert_serves(url: str, program: str) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    names = instances(program)
    aliases = {
        alias
        for n in names
        for alias in (SERVICES[n].get("networks", {}).get("default") or {}).get("aliases", [])
    }
    assert host in names or host in aliases, url
    if host in aliases:  # an alias must mean this program only
        others = [n for n, s in SERVICES.items() if n not in names]
        assert not any(
            host in (SERVICES[o].get("networks", {}).get("default") or {}).get("aliases", [])
            for o in others
        )
    assert port == default_port(program), url


def test_services_find_each_other() -> None:
    gateway = environment(SERVICES[instances("gateway")[0]])
    for program in ("auth", "products", "orders", "admin"):
        urls = gateway[f"{program.upper()}_URLS"].split(",")
        for url in urls:
            assert_serves(url, program)
        hosts = {urlsplit(u).hostname for u in urls}
        assert hosts == set(instances(program)), f"the gateway misses a {program} instance"
    for program in SHOP:
        for name in instances(program):
            env = environment(SERVICES[name])
            if program in API:
                assert_serves(env["JWKS_URL"], "auth")
            assert env["REDIS_URL"].startswith("redis://redis:")
            if "SMTP_HOST" in env:
                assert env["SMTP_HOST"] in SERVICES
                assert env["EMAIL_BACKEND"] == "smtp"
    for name in instances("orders"):
        assert_serves(environment(SERVICES[name])["PRODUCTS_URL"], "products")
    for name in instances("admin"):
        assert_serves(environment(SERVICES[name])["ADMIN_API_URL"], "gateway")
    for name in instances("products"):
        env = environment(SERVICES[name])
        assert env["SEARCH_BACKEND"] == "elasticsearch"
        assert env["STORAGE_BACKEND"] == "s3"
        assert urlsplit(env["ELASTICSEARCH_URL"]).hostname in SERVICES
        assert urlsplit(env["S3_ENDPOINT_URL"]).hostname in SERVICES


def test_database_urls_name_the_databases_the_init_script_creates() -> None:
    init = (ROOT / "deploy" / "compose" / "postgres-init.sql").read_text()
    created = set(re.findall(r"CREATE DATABASE (\w+);", init))
    assert created == {"auth_db", "products_db", "orders_db"}
    for name, service in SERVICES.items():
        for key, value in environment(service).items():
            if key.endswith("_DATABASE_URL"):
                database = urlsplit(value).path.lstrip("/")
                assert database == f"{key.removesuffix('_DATABASE_URL').lower()}_db", name
                assert urlsplit(value).hostname == "postgres"


def test_secrets_are_obviously_local_defaults() -> None:
    """Every credential is a ${VAR:-dev-only-...} default, so nobody mistakes it, or comes
    from the shell alone (${VAR:-}: Stripe's keys); the service token has none (the
    services refuse any placeholder): compose requires it."""
    for name, service in SERVICES.items():
        for key, value in environment(service).items():
            if key == "SERVICE_TOKEN":
                assert re.fullmatch(r"\$\{SERVICE_TOKEN:\?[^}]*32 random bytes[^}]*\}", value), name
            elif re.fullmatch(r"\$\{\w+:-\}", value):
                continue  # only from the shell's environment (Stripe's keys): none written
            elif any(word in key for word in SECRET_WORDS) or key == "AWS_SECRET_ACCESS_KEY":
                assert re.search(r"\$\{\w+:-dev-only-[^}]*\}", value), f"{name}: {key}"


def test_products_and_orders_are_given_the_required_service_token() -> None:
    users = {name for name, s in SERVICES.items() if "SERVICE_TOKEN" in environment(s)}
    assert users == {*instances("products"), *instances("orders")}
