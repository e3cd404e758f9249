"""`shop up --scale products=2`: how many instances of each service, on which ports."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from shop.cli.config import CliSettings
from shop.cli.processes import port_is_free
from shop.cli.services import SERVICES

# The gateway is the one public address: one instance, on GATEWAY_PORT.
SCALABLE = tuple(name for name in SERVICES if name != "gateway")
MAX_INSTANCES = 16


def scale_argument(value: str) -> dict[str, int]:
    """``SERVICE=N``, or several comma-separated (argparse type of ``--scale``)."""
    counts: dict[str, int] = {}
    for item in value.split(","):
        name, _, count = item.strip().partition("=")
        if name not in SCALABLE:
            raise argparse.ArgumentTypeError(
                f"{item.strip()!r}: the service must be one of {', '.join(SCALABLE)}"
            )
        if not count.isdigit() or not 1 <= int(count) <= MAX_INSTANCES:
            raise argparse.ArgumentTypeError(
                f"{item.strip()!r}: the number of instances must be 1 to {MAX_INSTANCES}"
            )
        counts[name] = int(count)
    return counts


def instance_ports(settings: CliSettings, scale: Mapping[str, int]) -> dict[str, list[int]]:
    """Every instance's port, by service. The first instance of each keeps the
    service's own port (``PRODUCTS_PORT`` ...); the others take the next free ports
    above the highest of those, so a scaled system does not move the default ones."""
    ports = {name: [settings.port_of(name)] for name in SERVICES}
    candidate = max(settings.port_of(name) for name in SERVICES)
    for name in SERVICES:
        for _ in range(scale.get(name, 1) - 1):
            candidate += 1
            while not port_is_free(settings.bind_host, candidate):
                candidate += 1
            ports[name].append(candidate)
    return ports
