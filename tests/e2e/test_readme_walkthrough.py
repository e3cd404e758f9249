"""The README's walkthrough, run as a reader runs it, so the README cannot drift.

The walkthrough's code blocks are the ```sh blocks of README.md that follow a
``<!-- walkthrough: NAME -->`` line. The first, ``start``, is the command of the
reader's first terminal (``VAR=value ... make TARGET``): its variables become the
environment of `shop up` (:func:`tests.e2e.system.start_system`, on free ports and a
fresh data directory) and TARGET's recipe in the Makefile gives its arguments. The
others run in order in one bash, the reader's second terminal, whose working directory
holds that data directory as ``.data``: variables and functions stay from one block to
the next.

Two things change: the gateway's address (``http://127.0.0.1:3000`` becomes the
test's), and the demo catalog of ``--demo`` is its first :data:`DEMO_PRODUCTS`
products, so that seeding takes seconds, not minutes, on a loaded machine (a smaller
demo catalog is the beginning of the full one: the same products, variants and stock,
see tests/cli/test_demo.py). ``curl`` is wrapped to fail on an HTTP error
(``--fail-with-body``) and the shell stops at the first failing command (``-e -o
pipefail``), so a step that no longer works fails the test with its output. What the
blocks print is checked, and the dashboard steps (sign-in, the order awaiting payment
with its *Mark paid* button, then paid) are checked on the /admin pages over HTTP.
"""

from __future__ import annotations

import email
import email.policy
import os
import queue
import re
import shlex
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from bs4 import Tag

from tests.admin.support import dashboard, parse, sign_in
from tests.e2e.system import start_system

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAKEFILE = ROOT / "Makefile"
README_GATEWAY = "http://127.0.0.1:3000"  # the gateway's address as the README gives it
BLOCK = re.compile(r"^<!-- walkthrough: ([a-z-]+) -->\n```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# The steps in the README's order; the test checks what each prints.
STEPS = ["start", "helpers", "shipping", "mail", "cart", "checkout", "pay"]
# The rain jackets the walkthrough looks for are among them.
DEMO_PRODUCTS = 60
MAX_README_LINES = 160  # issue 19: "a README of at most ~150 lines"
# Each block gets this long on a loaded machine (curl gives up on a request after 60 s).
BLOCK_SECONDS = 180
# curl as the README calls it, but failing (with the problem's body) on an HTTP error.
STRICT_CURL = 'curl() { command curl --fail-with-body --max-time 60 "$@"; }'
# What the reader's terminal has that matters here (none of the test's settings).
TERMINAL_ENV = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE")


@dataclass(frozen=True)
class Block:
    name: str
    code: str


def walkthrough_blocks(readme: str) -> list[Block]:
    return [Block(name, code) for name, code in BLOCK.findall(readme)]


@dataclass(frozen=True)
class StartCommand:
    env: dict[str, str]
    up_args: list[str]


def start_command(code: str, makefile: str) -> StartCommand:
    """``VAR=value ... make TARGET``: the variables, and the `shop up` arguments of the
    target's recipe (``$(BIN)/shop up ...``)."""
    words = shlex.split(code.replace("\\\n", " "))
    env = {}
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0], re.DOTALL):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words[:1] == ["make"], f"not `VAR=value ... make TARGET`: {code}"
    assert len(words) == 2, f"not `VAR=value ... make TARGET`: {code}"
    recipe = re.search(rf"^{re.escape(words[1])}:.*\n\t\$\(BIN\)/shop up(.*)$", makefile, re.M)
    assert recipe, f"make {words[1]} does not run `$(BIN)/shop up ...`"
    return StartCommand(env, shlex.split(recipe.group(1)))


def with_smaller_demo(up_args: list[str]) -> list[str]:
    """``--demo`` (the full demo catalog) as ``--demo DEMO_PRODUCTS``."""
    changed = []
    for arg in up_args:
        changed.append(arg)
        if arg == "--demo":
            changed.append(str(DEMO_PRODUCTS))
    return changed


def test_the_readme_is_short_and_its_walkthrough_is_marked() -> None:
    readme = README.read_text()
    assert len(readme.splitlines()) <= MAX_README_LINES
    blocks = walkthrough_blocks(readme)
    assert readme.count("<!-- walkthrough:") == len(blocks), "a marker without its sh block"
    assert [block.name for block in blocks] == STEPS
    start = start_command(blocks[0].code, MAKEFILE.read_text())
    assert {"BOOTSTRAP_ADMIN_EMAIL", "BOOTSTRAP_ADMIN_PASSWORD"} <= start.env.keys()
    assert start.env.get("EMAIL_BACKEND") == "file"  # the mail step reads .data/mail
    assert with_smaller_demo(start.up_args) == ["--demo", str(DEMO_PRODUCTS)]
    assert README_GATEWAY in blocks[1].code


class Terminal:
    """One bash, as the reader's second terminal. Each block is written to a file and
    sourced with its standard input at /dev/null (so no command can read the next
    block), then a marker line says it is done; a failing command ends the shell."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            encoding="utf-8",
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.count = 0

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def run(self, code: str) -> list[str]:
        """The lines ``code`` printed (its standard output and error)."""
        self.count += 1
        script = self.cwd / f"block-{self.count}.sh"
        script.write_text(code + "\n")
        marker = f"block {uuid.uuid4().hex} done"
        assert self.process.stdin is not None
        # The newline first: a block's last answer (curl's) may not end with one.
        self.process.stdin.write(f"source {script} </dev/null\nprintf '\\n%s\\n' '{marker}'\n")
        self.process.stdin.flush()
        output: list[str] = []
        deadline = time.monotonic() + BLOCK_SECONDS
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(self._report("did not finish in time", code, output)) from None
            if line is None:
                status = self.process.wait()
                raise AssertionError(self._report(f"failed (exit {status})", code, output))
            if line.rstrip("\n") == marker:
                return [kept for kept in "".join(output).splitlines() if kept]
            output.append(line)

    def value(self, name: str) -> str:
        [value] = self.run(f'printf "%s\\n" "${name}"')
        return value

    @staticmethod
    def _report(what: str, code: str, output: list[str]) -> str:
        return f"this README block {what}:\n{code}\n--- it printed:\n{''.join(output)}"

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def terminal(cwd: Path, env: dict[str, str]) -> Iterator[Terminal]:
    shell = Terminal(cwd, env)
    try:
        shell.run(STRICT_CURL)
        yield shell
    finally:
        shell.close()


def test_the_terminal_keeps_variables_and_stops_at_a_failing_command(tmp_path: Path) -> None:
    env = {key: os.environ[key] for key in TERMINAL_ENV if key in os.environ}
    with terminal(tmp_path, env) as shell:
        assert shell.run('GREETING=hello\nsay() { echo "$GREETING $1"; }') == []
        assert shell.run("say Ada; printf 'no newline'") == ["hello Ada", "no newline"]
        assert shell.value("GREETING") == "hello"
        # pipefail: the failing `false` stops the shell though `cat` succeeds.
        stopped = r"(?s)failed \(exit 1\).*--- it printed:\nbefore\n$"
        with pytest.raises(AssertionError, match=stopped):
            shell.run("echo before; false | cat; echo after")


def wait_for_mail(directory: Path, to: str, timeout: float = 60.0) -> None:
    """The verification email leaves through the outbox, a moment after the answer;
    the README says to run the step again if it is not there yet: wait for it instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in directory.glob("*.eml"):
            mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if mail["To"] == to:
                return
        time.sleep(0.2)
    raise AssertionError(f"no email to {to} in {directory}")


def order_page(page: Tag) -> tuple[str, str]:
    """The heading and the payment status of a dashboard's order page."""
    heading, payment = page.find("h1"), page.select_one(".payment-status")
    assert heading is not None, page.get_text()[:2000]
    assert payment is not None, page.get_text()[:2000]
    return heading.get_text(strip=True), payment.get_text(strip=True)


@pytest.mark.e2e
def test_the_readme_walkthrough_runs_against_shop_up(tmp_path: Path) -> None:
    for program in ("bash", "curl", "python3"):
        if shutil.which(program) is None:
            pytest.skip(f"the README's walkthrough needs {program}")
    blocks = {block.name: block.code for block in walkthrough_blocks(README.read_text())}
    start = start_command(blocks.pop("start"), MAKEFILE.read_text())
    data_dir = tmp_path / ".data"  # where `make demo` keeps it, seen from the terminal
    up_args = with_smaller_demo(start.up_args)
    system = start_system(data_dir, tmp_path / "shop-up.log", start.env, up_args)
    try:
        gateway = system.url()
        env = {key: os.environ[key] for key in TERMINAL_ENV if key in os.environ}
        with dashboard(system) as browser, terminal(tmp_path, env) as shell:
            admin = start.env["BOOTSTRAP_ADMIN_EMAIL"], start.env["BOOTSTRAP_ADMIN_PASSWORD"]
            assert sign_in(browser, *admin).status_code == 303
            assert parse(browser.get("/admin/products")).select("tbody tr")  # the demo catalog

            for name, code in blocks.items():
                code = code.replace(README_GATEWAY, gateway)
                if name == "mail":
                    [customer] = re.findall(r'"email": "([^"]+)"', blocks["shipping"])
                    wait_for_mail(data_dir / "mail", customer)
                printed = shell.run(code)
                check_step(name, printed, shell, browser, gateway)
    finally:
        system.stop()


def check_step(
    name: str, printed: list[str], shell: Terminal, browser: httpx.Client, gateway: str
) -> None:
    """What the README's step ``name`` printed, and the dashboard after it."""
    if name == "helpers":
        assert printed == []
    elif name == "shipping":  # the customer registered, not verified yet
        assert printed[1:] == ["false"]
    elif name == "mail":
        assert printed == []
        assert re.fullmatch(r"[\w-]{20,}", shell.value("VERIFY_TOKEN"))
    elif name == "cart":
        verified, item, item_total, with_address, shipping, total = printed
        assert verified == "true"
        assert "Rain Jacket" in item
        assert with_address == item_total
        assert int(shipping) > 0
        assert int(total) == int(item_total) + int(shipping)
    elif name == "checkout":
        number, status, payment, total = printed
        assert (status, payment) == ("confirmed", "awaiting")
        assert int(total) > 0
        page = parse(browser.get(f"/admin/orders/{shell.value('ORDER_ID')}"))
        assert order_page(page) == (f"Order {number}", "awaiting")
        assert page.select("form.mark-paid button")  # the dashboard's way to mark it paid
    elif name == "pay":
        status, payment, url = printed
        assert (status, payment) == ("confirmed", "paid")
        page = parse(browser.get(url.replace(README_GATEWAY, gateway)))
        heading, paid = order_page(page)
        assert paid == "paid"
        assert " — M / " in page.select_one("tbody th").get_text()  # type: ignore[union-attr]
        listed = parse(browser.get("/admin/orders")).select("tbody th a")
        assert heading.removeprefix("Order ") in [link.get_text() for link in listed]
    else:
        raise AssertionError(f"a new step in the README's walkthrough: check {name!r} here")
