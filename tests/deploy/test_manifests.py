"""deploy/kubernetes: every manifest against the Kubernetes OpenAPI schemas (offline,
the schemas bundled by kubernetes-validate), then how the manifests fit together and
with the code: names, ports, probes, settings, secrets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from tests.deploy.settings_names import default_port, known_names

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
SERVICES = ("gateway", "auth", "products", "orders", "admin")
# The services of the API, which verify access tokens (the dashboard is their client).
API_SERVICES = ("gateway", "auth", "products", "orders")
# The oldest Kubernetes the manifests are meant for, and the newest the package knows.
VERSIONS = ("1.30", latest_version())
# Applied from a secret manager, never from the repository (docs/deployment.md).
NOT_APPLIED = {"secret.example.yaml"}


def manifest_files() -> list[Path]:
    return sorted(p for p in KUBERNETES.rglob("*.yaml") if p.name != "kustomization.yaml")


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def all_resources() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in manifest_files() for doc in load(path)]


RESOURCES = all_resources()


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    found = [doc for _, doc in RESOURCES if doc["kind"] == kind]
    named = {doc["metadata"]["name"]: doc for doc in found}
    assert len(named) == len(found), f"two {kind}s with one name"
    return named


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def env_of(spec: dict[str, Any]) -> dict[str, str | None]:
    """Every variable a container gets: ConfigMap values through envFrom, then ``env``
    (a value, or None when it comes from a Secret)."""
    configmaps = by_kind("ConfigMap")
    env: dict[str, str | None] = {}
    for source in spec.get("envFrom", []):
        assert set(source) == {"configMapRef"}, "envFrom only from ConfigMaps"
        env.update(configmaps[source["configMapRef"]["name"]]["data"])
    for item in spec.get("env", []):
        env[item["name"]] = item.get("value")
    return env


def secret_refs(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        item["name"]: item["valueFrom"]["secretKeyRef"]
        for item in spec.get("env", [])
        if "secretKeyRef" in item.get("valueFrom", {})
    }


# --- the schemas ------------------------------------------------------------------------


def test_there_are_manifests() -> None:
    kinds = Counter(doc["kind"] for _, doc in RESOURCES)
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert kinds[kind] == len(SERVICES), kind
    for kind in ("Namespace", "Ingress", "Job", "Secret"):
        assert kinds[kind] == 1, kind
    assert kinds["ConfigMap"] >= 1


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "resource",
    [doc for _, doc in RESOURCES],
    ids=[
        f"{path.relative_to(KUBERNETES)}:{doc['kind']}/{doc['metadata']['name']}"
        for path, doc in RESOURCES
    ],
)
def test_manifest_matches_the_kubernetes_schema(resource: dict[str, Any], version: str) -> None:
    # strict: unknown fields (a typo, a field at the wrong level) are errors too.
    # A kind without a schema raises SchemaNotFoundError, which fails the test.
    kubernetes_validate.validate(resource, version, strict=True)


def test_the_validator_catches_mistakes() -> None:
    deployment = by_kind("Deployment")["gateway"]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    container(broken)["readinesProbe"] = container(broken).pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[0], strict=True)
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    container(broken)["resources"]["limits"]["memory"] = ["512Mi"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[0], strict=True)


# --- the kustomizations -------------------------------------------------------------------


def kustomizations() -> dict[Path, dict[str, Any]]:
    return {
        p: yaml.safe_load(p.read_text()) for p in sorted(KUBERNETES.rglob("kustomization.yaml"))
    }


def test_kustomizations_apply_every_manifest_but_the_example_secret() -> None:
    listed: list[Path] = []
    for path, kustomization in kustomizations().items():
        assert kustomization["namespace"] == "shop"
        for resource in kustomization["resources"]:
            file = (path.parent / resource).resolve()
            assert file.is_file(), f"{path}: {resource} does not exist"
            assert path.parent in file.parents, f"{path}: {resource} is outside its directory"
            listed.append(file)
    assert len(listed) == len(set(listed)), "a manifest is applied twice"
    expected = {p.resolve() for p in manifest_files() if p.name not in NOT_APPLIED}
    assert set(listed) == expected


def test_kustomizations_deploy_one_image() -> None:
    images = [k["images"] for k in kustomizations().values()]
    assert all(i == images[0] for i in images), "the migration Job must run the same release"
    assert [image["name"] for image in images[0]] == ["shop"]
    for _, doc in RESOURCES:
        spec = doc.get("spec", {}).get("template", {}).get("spec")
        if spec:
            assert [c["image"].split(":")[0] for c in spec["containers"]] == ["shop"]


def test_every_resource_is_in_the_namespace() -> None:
    for _, doc in RESOURCES:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "shop", doc["metadata"]["name"]


# --- the services ------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_runs_its_service(service: str) -> None:
    spec = container(by_kind("Deployment")[service])
    assert "command" not in spec, "the image's ENTRYPOINT is `shop`"
    assert spec["args"] == ["serve", service]
    env = env_of(spec)
    port = int(env.get(f"{service.upper()}_PORT") or default_port(service))
    assert [p["containerPort"] for p in spec["ports"]] == [port]
    assert spec["ports"][0]["name"] == "http"


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_has_probes_resources_and_a_locked_down_container(service: str) -> None:
    deployment = by_kind("Deployment")[service]
    pod = deployment["spec"]["template"]["spec"]
    spec = container(deployment)
    assert spec["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert spec["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(spec["resources"][kind])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["securityContext"]["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in spec["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    data_dir = env_of(spec)["SHOP_DATA_DIR"]
    assert data_dir is not None
    assert data_dir.startswith("/tmp/"), "the only writable place"


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_sets_only_settings_the_service_reads(service: str) -> None:
    unknown = set(env_of(container(by_kind("Deployment")[service]))) - known_names(service)
    assert not unknown, f"{service} reads no {sorted(unknown)}"


def test_migration_job_runs_shop_migrate_with_the_three_databases() -> None:
    job = by_kind("Job")["shop-migrate"]
    pod = job["spec"]["template"]["spec"]
    spec = pod["containers"][0]
    assert spec["args"] == ["migrate"]
    env = env_of(spec)
    assert set(env) <= known_names("cli")
    for service in ("AUTH", "PRODUCTS", "ORDERS"):
        assert f"{service}_DATABASE_URL" in secret_refs(spec)
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["readOnlyRootFilesystem"] is True


def test_secrets_come_from_the_secret_and_name_its_keys() -> None:
    secret = by_kind("Secret")["shop-secrets"]
    keys = set(secret["stringData"])
    specs = [container(d) for d in by_kind("Deployment").values()]
    specs.append(by_kind("Job")["shop-migrate"]["spec"]["template"]["spec"]["containers"][0])
    for spec in specs:
        for name, ref in secret_refs(spec).items():
            assert ref["name"] == "shop-secrets"
            assert ref["key"] in keys, f"{spec['name']}: {name} names no key of the Secret"
    for value in secret["stringData"].values():
        assert "REPLACE_ME" in value, "the example Secret holds placeholders only"
    # No secret in a ConfigMap.
    for configmap in by_kind("ConfigMap").values():
        for key in configmap["data"]:
            assert not any(w in key for w in ("PASSWORD", "TOKEN", "SECRET", "PRIVATE_KEY"))
            assert not key.endswith("_DATABASE_URL")
            assert key not in {"REDIS_URL", "ELASTICSEARCH_URL"}, "URLs with credentials"


def test_every_auth_replica_signs_with_the_key_from_the_secret() -> None:
    refs = secret_refs(container(by_kind("Deployment")["auth"]))
    assert refs["JWT_PRIVATE_KEY"]["key"] == "jwt-private-key"
    assert not refs["JWT_PRIVATE_KEY"].get("optional")


def test_orders_and_products_share_the_service_token() -> None:
    deployments = by_kind("Deployment")
    tokens = [
        secret_refs(container(deployments[s]))["SERVICE_TOKEN"] for s in ("orders", "products")
    ]
    assert tokens[0] == tokens[1]


# --- how they find each other --------------------------------------------------------------


def pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("service", SERVICES)
def test_service_hpa_and_pdb_select_the_deployment(service: str) -> None:
    deployment = by_kind("Deployment")[service]
    labels = pod_labels(deployment)
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    others = [pod_labels(d) for name, d in by_kind("Deployment").items() if name != service]

    svc = by_kind("Service")[service]
    assert selects(svc["spec"]["selector"], labels)
    assert not any(selects(svc["spec"]["selector"], o) for o in others)
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == ["http"]
    assert svc["spec"]["ports"][0]["port"] == container(deployment)["ports"][0]["containerPort"]

    pdb = by_kind("PodDisruptionBudget")[service]
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    assert not any(selects(pdb["spec"]["selector"]["matchLabels"], o) for o in others)

    hpa = by_kind("HorizontalPodAutoscaler")[service]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": service,
    }
    assert hpa["spec"]["minReplicas"] >= 2, "one pod is no high availability"
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "nodes could never drain"
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


def service_url_target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def assert_reaches(url: str, service: str) -> None:
    host, port = service_url_target(url)
    svc = by_kind("Service")[host]
    assert host == service
    assert port in [p["port"] for p in svc["spec"]["ports"]], url


def test_urls_point_at_the_services() -> None:
    deployments = by_kind("Deployment")
    gateway = env_of(container(deployments["gateway"]))
    for service in ("auth", "products", "orders", "admin"):
        urls = gateway[f"{service.upper()}_URLS"]
        assert urls is not None
        for url in urls.split(","):
            assert_reaches(url, service)
    for service in API_SERVICES:
        jwks = env_of(container(deployments[service]))["JWKS_URL"]
        assert jwks is not None
        assert_reaches(jwks, "auth")
    products_url = env_of(container(deployments["orders"]))["PRODUCTS_URL"]
    assert products_url is not None
    assert_reaches(products_url, "products")
    # The dashboard calls the public API where any client does: the gateway.
    api_url = env_of(container(deployments["admin"]))["ADMIN_API_URL"]
    assert api_url is not None
    assert_reaches(api_url, "gateway")


def test_the_ingress_reaches_the_gateway_only_over_tls() -> None:
    ingress = by_kind("Ingress")["shop"]
    backends = [
        path["backend"]["service"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert backends
    assert all(b == {"name": "gateway", "port": {"name": "http"}} for b in backends)
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert hosts <= {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}


# --- the edge and the network policies ------------------------------------------------------

PUBLIC = ["/api/v1/products", "/api/v1/auth/login", "/media/products/a.webp", "/docs"]
PUBLIC += ["/openapi.json", "/api", "/admin", "/admin/products/x"]
PUBLIC += ["/api/v1/payments/stripe/webhook"]  # Stripe's webhook, to orders
NOT_PUBLIC = ["/metrics", "/health/ready", "/health/live", "/internal/v1/reservations/x"]
NOT_PUBLIC += ["/", "/apis", "/docs/oauth2-redirect", "/openapi.json/x", "/mediax", "/metrics/"]
NOT_PUBLIC += ["/administrator"]


def ingress_admits(path: str) -> bool:
    """Whether a path of the Ingress matches (Kubernetes semantics: Exact is the whole
    path; Prefix matches element by element, "/api" matches "/api" and "/api/x")."""
    ingress = by_kind("Ingress")["shop"]
    for rule in ingress["spec"]["rules"]:
        for item in rule["http"]["paths"]:
            if item["pathType"] == "Exact" and path == item["path"]:
                return True
            if item["pathType"] == "Prefix":
                prefix = item["path"].rstrip("/").split("/")
                if path.rstrip("/").split("/")[: len(prefix)] == prefix:
                    return True
    return False


def test_the_ingress_exposes_only_the_public_paths_of_the_gateway() -> None:
    ingress = by_kind("Ingress")["shop"]
    paths = {
        (item["path"], item["pathType"])
        for rule in ingress["spec"]["rules"]
        for item in rule["http"]["paths"]
    }
    assert paths == {
        ("/api", "Prefix"),
        ("/media", "Prefix"),
        ("/admin", "Prefix"),
        ("/docs", "Exact"),
        ("/openapi.json", "Exact"),
    }
    for path in PUBLIC:
        assert ingress_admits(path), path
    for path in NOT_PUBLIC:
        assert not ingress_admits(path), path


def test_the_ingress_buffers_requests_before_the_gateway_sees_them() -> None:
    annotations = by_kind("Ingress")["shop"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "on"


INGRESS_CONTROLLER = "namespace:ingress-nginx"
PROMETHEUS = "namespace:monitoring"


def peer_name(peer: dict[str, Any]) -> str:
    """A ``from`` entry as a name: a component of the shop, or a namespace."""
    assert set(peer) in ({"podSelector"}, {"namespaceSelector"}), peer
    if "podSelector" in peer:
        labels = peer["podSelector"]["matchLabels"]
        (name,) = [n for n, d in by_kind("Deployment").items() if selects(labels, pod_labels(d))]
        return name
    return "namespace:" + peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]


def admitted_to(service: str) -> set[str]:
    """Who may connect to ``service``'s pods, and only to its http port: the union of
    the policies that select them (Kubernetes semantics)."""
    labels = pod_labels(by_kind("Deployment")[service])
    admitted: set[str] = set()
    for policy in by_kind("NetworkPolicy").values():
        if not selects(policy["spec"]["podSelector"].get("matchLabels", {}), labels):
            continue
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        for rule in policy["spec"].get("ingress", []):
            assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
            admitted |= {peer_name(peer) for peer in rule["from"]}
    return admitted


def test_a_default_policy_denies_every_other_connection() -> None:
    deny = by_kind("NetworkPolicy")["default-deny-ingress"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_network_policies_let_only_the_gateway_reach_the_services() -> None:
    # The dashboard calls the API through the gateway, and is reached only through it.
    assert admitted_to("gateway") == {INGRESS_CONTROLLER, "admin", PROMETHEUS}
    assert admitted_to("admin") == {"gateway", PROMETHEUS}
    # The internal reservation API: orders only, besides the gateway.
    assert admitted_to("products") == {"gateway", "orders", PROMETHEUS}
    assert admitted_to("orders") == {"gateway", PROMETHEUS}
    # The JWKS every service verifies tokens with.
    assert admitted_to("auth") == {"gateway", "products", "orders", PROMETHEUS}
