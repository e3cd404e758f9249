"""MkDocs hooks (mkdocs.yml): the HTTP API reference's OpenAPI document.

``api/openapi.json`` is the gateway's merged document (what it serves at
``/openapi.json``), made from the apps themselves when the site is built: no server
runs, nothing is fetched, and the reference cannot drift from the code.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from mkdocs.structure.files import File, Files

OPENAPI_PATH = "api/openapi.json"


@cache  # once per process: `mkdocs serve` rebuilds on every change of a page
def _document() -> str:
    from shop.cli.api_document import public_api_document

    return json.dumps(public_api_document(), indent=1, sort_keys=False)


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, OPENAPI_PATH, content=_document()))
    return files
