"""What a fresh interpreter loads: the packages in its ``sys.modules`` after some
statements (this test process has long loaded everything)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from tests.kit.service_process import clean_environment


def packages_loaded_by(
    statements: str, packages: Iterable[str], workdir: Path, **environ: str
) -> list[str]:
    """Those of the top-level ``packages`` loaded once ``statements`` have run."""
    found = workdir / "loaded.json"
    probe = (
        f"{statements}\n"
        "import json, pathlib, sys\n"
        f"names = sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(packages)!r}))\n"
        f"pathlib.Path({str(found)!r}).write_text(json.dumps(names))\n"
    )
    subprocess.run(
        [sys.executable, "-c", probe],
        env=clean_environment(**environ),
        cwd=workdir,  # no .env there
        capture_output=True,
        check=True,
        timeout=120,
    )
    loaded: list[str] = json.loads(found.read_text())
    return loaded
