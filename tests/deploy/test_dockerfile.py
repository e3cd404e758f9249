"""The Dockerfile, read statically (no Docker here), and its health check run for real."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    result = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def test_multi_stage_on_python_slim() -> None:
    steps = instructions()
    args = dict(rest.split("=", 1) for word, rest in steps if word == "ARG" and "=" in rest)
    bases = [rest.split()[0] for word, rest in steps if word == "FROM"]
    assert len(bases) >= 2
    final = bases[-1].replace("${PYTHON_IMAGE}", args.get("PYTHON_IMAGE", ""))
    assert final.split("@")[0] == "python:3.11-slim"  # pinned by digest: test_supply_chain
    text = (ROOT / "Dockerfile").read_text()
    assert "requirements.lock" in text
    assert "uv pip install" in text


def test_final_stage_runs_shop_as_a_non_root_user() -> None:
    stage = final_stage()
    users = [rest for word, rest in stage if word == "USER"]
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert users[-1].split(":")[0].isdigit(), "numeric, for Kubernetes' runAsNonRoot"
    assert dict(stage)["ENTRYPOINT"] == '["shop"]'
    assert json.loads(dict(stage)["CMD"]) == ["serve", "gateway"]
    copies = [rest for word, rest in stage if word == "COPY"]
    assert copies == ["--from=builder /opt/venv /opt/venv"], "only the venv"


def test_no_secrets_baked_in() -> None:
    for word, rest in instructions():
        if word in {"ENV", "ARG"}:
            for bad in ("PASSWORD", "TOKEN", "SECRET", "PRIVATE_KEY", "DATABASE_URL"):
                assert bad not in rest.upper()
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[[ln.strip() for ln in ignore].index("*")].strip() == "*", "an allow-list"
    assert not any(ln.strip().startswith("!.env") for ln in ignore)


@pytest.fixture
def live_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health/live" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def healthcheck_code() -> str:
    (rest,) = [rest for word, rest in final_stage() if word == "HEALTHCHECK"]
    command = json.loads(rest[rest.index("CMD") + 3 :])
    assert command[:2] == ["python", "-c"]
    code: str = command[2]
    return code


@pytest.mark.parametrize(
    ("argv", "port_ok", "status"),
    [
        (["/opt/venv/bin/python", "/opt/venv/bin/shop", "serve", "products"], True, 0),
        (["/opt/venv/bin/python", "/opt/venv/bin/shop", "serve", "auth"], False, 1),
        (["/opt/venv/bin/python", "/opt/venv/bin/shop", "migrate"], False, 0),
    ],
)
def test_healthcheck_asks_the_served_service(
    live_server: int, tmp_path: Path, argv: list[str], port_ok: bool, status: int
) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes("\0".join(argv).encode() + b"\0")
    code = healthcheck_code()
    assert "/proc/1/cmdline" in code
    service = argv[argv.index("serve") + 1] if "serve" in argv else "gateway"
    port = str(live_server) if port_ok else "1"
    result = subprocess.run(
        [sys.executable, "-c", code.replace("/proc/1/cmdline", str(cmdline))],
        env={f"{service.upper()}_PORT": port},
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == status, result.stderr
