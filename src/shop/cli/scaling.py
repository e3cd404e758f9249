"""`shop up --scale products=2`: how many instances of each service, on which ports."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from shop.cli.config import CliSettings
from shop.cli.processes import port_is_free
from shop.cli.services import SERVICES

SCALABLE = tuple(SERVICES)
MAX_INSTANCES = 16
# The gateway is the one public address: its instances all listen on GATEWAY_PORT
# (SO_REUSEPORT; the kernel spreads the connections over them). The other services'
# instances each have a port of their own, which the gateway balances over.
SHARED_PORT = ("gateway",)


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
    above the highest of those, so a scaled system does not move the default ones.
    The gateway's instances all share its port."""
    ports = {
        name: [settings.port_of(name)] * (scale.get(name, 1) if name in SHARED_PORT else 1)
        for name in SERVICES
    }
    candidate = max(settings.port_of(name) for name in SERVICES)
    for name in SERVICES:
        if name in SHARED_PORT:
            continue
        for _ in range(scale.get(name, 1) - 1):
            candidate += 1
            while not port_is_free(settings.bind_host, candidate):
                candidate += 1
            ports[name].append(candidate)
    return ports
