"""The OpenSearch overlays: deploy/compose/opensearch.yaml over compose.yaml, and
deploy/kubernetes-opensearch over deploy/kubernetes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.settings_names import known_names
from tests.deploy.test_compose import SERVICES, environment

ROOT = Path(__file__).resolve().parents[2]


class _ComposeLoader(yaml.SafeLoader):
    """Reads Compose's merge tags (!override, !reset) as plain values."""


_ComposeLoader.add_constructor(
    "!override",
    lambda loader, node: loader.construct_mapping(node),  # type: ignore[arg-type]
)
_OVERLAY_TEXT = (ROOT / "deploy" / "compose" / "opensearch.yaml").read_text()
OVERLAY: dict[str, Any] = yaml.load(_OVERLAY_TEXT, Loader=_ComposeLoader)  # noqa: S506 (a SafeLoader)


def test_the_compose_overlay_puts_products_on_opensearch() -> None:
    services = OVERLAY["services"]
    assert services["elasticsearch"] == {"profiles": ["elasticsearch"]}
    assert "healthcheck" in services["opensearch"]
    for name in ("products-1", "products-2"):
        assert name in SERVICES  # overrides services the base file has
        env = {**environment(SERVICES[name]), **environment(services[name])}
        assert env["SEARCH_BACKEND"] == "opensearch"
        assert urlsplit(env["OPENSEARCH_URL"]).hostname == "opensearch"
        assert set(env) <= known_names("products")
    waits_for = services["products-1"]["depends_on"]
    assert "opensearch" in waits_for
    assert "elasticsearch" not in waits_for
    assert set(SERVICES["products-1"]["depends_on"]) - {"elasticsearch"} <= set(waits_for)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_the_kubernetes_overlay_renders_products_on_opensearch() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "deploy" / "kubernetes-opensearch")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    resources = [doc for doc in yaml.safe_load_all(rendered) if doc]
    [config] = [r for r in resources if r["metadata"]["name"] == "shop-products"]
    assert config["data"]["SEARCH_BACKEND"] == "opensearch"
    assert "ELASTICSEARCH_INDEX" not in config["data"]
    [products] = [
        r for r in resources if r["kind"] == "Deployment" and r["metadata"]["name"] == "products"
    ]
    env = {e["name"]: e for e in products["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "ELASTICSEARCH_URL" not in env
    assert env["OPENSEARCH_URL"]["valueFrom"]["secretKeyRef"]["key"] == "opensearch-url"
    assert env["OPENSEARCH_PASSWORD"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert set(env) | set(config["data"]) <= known_names("products")
