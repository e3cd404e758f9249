"""`shop serve SERVICE`: one service under uvicorn (uvloop, httptools)."""

from __future__ import annotations

import importlib

import uvicorn

from shop.cli.services import SERVICES


def serve(name: str, *, reload: bool = False) -> int:
    spec = SERVICES[name]
    module_name, factory_name = spec.app_factory.split(":")
    # The service reads its settings (host, port, URLs) from the environment.
    app = getattr(importlib.import_module(module_name), factory_name)()
    settings = app.state.settings
    uvicorn.run(
        spec.app_factory if reload else app,
        factory=reload,
        reload=reload,
        host=settings.bind_host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=15,
        proxy_headers=False,
    )
    return 0
