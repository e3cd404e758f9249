"""One run's report: ratios to the ceiling, JSON and Markdown."""

from __future__ import annotations

import json
import math
from typing import Any

from bench.system import SERVICES, scale_flags

# --- the report ------------------------------------------------------------------------


def add_ratios(results: list[dict[str, Any]]) -> None:
    """rps as a fraction of the ceiling's, latencies as multiples of the ceiling's, at the
    same connection count in the same run."""
    ceiling = {row["connections"]: row for row in results[0]["runs"]}
    for scenario in results:
        for row in scenario["runs"]:
            base = ceiling.get(row["connections"])
            if base is None:
                continue
            row["rps_vs_ceiling"] = round(row["rps"] / base["rps"], 4) if base["rps"] else None
            for key in ("p50_ms", "p99_ms"):
                ratio = row[key] / base[key] if base[key] else None
                row[key.replace("_ms", "_x_ceiling")] = round(ratio, 2) if ratio else None


def to_json(report: dict[str, Any]) -> str:
    """Indented, but one line per wrk run, so that a results file stays small."""
    compact: dict[str, Any] = {"meta": report["meta"], "scenarios": []}
    placeholder = []
    for scenario in report["scenarios"]:
        rows = []
        for row in scenario["runs"]:
            row = {
                k: v
                for k, v in row.items()
                if (k != "socket_error_detail" or any(v.values())) and (k != "failures" or v)
            }
            rows.append(f"@@{len(placeholder)}@@")
            placeholder.append(json.dumps(row, separators=(",", ":")))
        compact["scenarios"].append({**scenario, "runs": rows})
    text = json.dumps(compact, indent=1)
    for n, line in enumerate(placeholder):
        text = text.replace(f'"@@{n}@@"', line)
    return text + "\n"


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        f"# Benchmark {meta['stamp']}",
        "",
        f"{meta['products']} products seeded"
        f"{'' if meta.get('images', True) else ' without pictures (--no-images)'}"
        f"{'' if meta.get('seed_s') is None else ' in ' + format(meta['seed_s'], '.0f') + ' s'}; "
        f"{meta['duration_s']} s per run"
        f" (after {meta.get('warmup_s', 0)} s of unmeasured warm-up per read scenario); "
        f"{meta['cpus']} CPUs ({meta['machine']}); wrk threads = min(connections, CPUs); "
        f"bcrypt rounds {meta['bcrypt_rounds']}; {meta['customers']} customers.",
        "",
        topology(meta),
        "",
        "rps x ceil: requests/s as a fraction of the ceiling (GET /health/live on products) "
        "at the same connection count; p50/p99 x ceil: latency as a multiple of the "
        "ceiling's. Errors: responses with status ≥ 400 (non-2xx/3xx) / socket errors.",
        "",
        "| scenario | conns | req/s | rps x ceil | p50 ms | p50 x ceil | p99 ms | p99 x ceil "
        "| errors (http/socket) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for scenario in report["scenarios"]:
        for row in scenario["runs"]:
            rps = fmt(row["rps"], ",.1f")
            if scenario.get("per_core"):
                rps += f" ({row['rps'] / meta['cpus']:.1f}/core)"
            lines.append(
                f"| {scenario['title']} | {row['connections']} | {rps} "
                f"| {fmt(row.get('rps_vs_ceiling'), '.3f')} | {row['p50_ms']:.2f} "
                f"| {fmt(row.get('p50_x_ceiling'), '.1f')} | {row['p99_ms']:.2f} "
                f"| {fmt(row.get('p99_x_ceiling'), '.1f')} "
                f"| {row['non_2xx_3xx']}/{row['socket_errors']} |"
            )
    lines += cpu_markdown(report)
    gateway = {s["name"]: s for s in report["scenarios"]}
    if "product_direct" in gateway and "product_gateway" in gateway:
        direct_label, instances = meta.get("direct", {}).get("label"), meta.get("instances", {})
        over = len(instances.get("products", [])) or 1
        lines += [
            "",
            "Gateway cost, product reads (gateway rps / direct rps)"
            + (
                f", the gateway over {over} products instances, direct to {direct_label} only:"
                if over > 1
                else ":"
            ),
        ]
        for direct, through in zip(
            gateway["product_direct"]["runs"], gateway["product_gateway"]["runs"], strict=True
        ):
            ratio = through["rps"] / direct["rps"] if direct["rps"] else float("nan")
            lines.append(f"- {direct['connections']} connections: {ratio:.2f}")
    explained = [
        f"- {scenario['title']}, {row['connections']} connections: "
        + ", ".join(f"{count} x {name}" for name, count in sorted(row["failures"].items()))
        for scenario in report["scenarios"]
        for row in scenario["runs"]
        if row.get("failures")
    ]
    if explained:
        lines += ["", "Errors by status and problem type (order scenarios):", *explained]
    if meta.get("notes"):
        lines += ["", *(f"- {note}" for note in meta["notes"])]
    return "\n".join(lines) + "\n"


CPU_COLUMNS = ("gateway", "auth", "products", "orders", "postgres", "redis", "other")


def cpu_markdown(report: dict[str, Any]) -> list[str]:
    """CPU milliseconds per request by process, at each scenario's most connections."""
    rows = []
    for scenario in report["scenarios"]:
        measured = [row for row in scenario["runs"] if row.get("cpu_ms")]
        if not measured:
            continue
        row = max(measured, key=lambda run: run["connections"])
        cpu = row["cpu_ms"]
        cells = " | ".join(format(cpu.get(label, 0.0), ".2f") for label in CPU_COLUMNS)
        rows.append(
            f"| {scenario['title']} | {row['connections']} | {cells} | {sum(cpu.values()):.2f} |"
        )
    if not rows:
        return []
    return [
        "",
        "CPU per request (ms, all instances of a service together; wrk's own not counted), "
        "at the most connections: what each request costs, steadier than req/s on a "
        "shared machine.",
        "",
        "| scenario | conns | " + " | ".join(CPU_COLUMNS) + " | total |",
        "|---|---:|" + "---:|" * (len(CPU_COLUMNS) + 1),
        *rows,
    ]


def topology(meta: dict[str, Any]) -> str:
    """One line: the `shop up` command line, the instances, and which one "direct" means."""
    scale = meta.get("scale") or {}
    command = " ".join(["shop up", *scale_flags(scale)]).replace("--scale=", "--scale ")
    instances = meta.get("instances") or {}
    counts = ", ".join(f"{name} x{len(instances.get(name, [])) or 1}" for name in SERVICES)
    direct = meta.get("direct") or {}
    line = f"`{command}`: {counts}."
    if direct:
        line += f" The ceiling and the direct product reads hit {direct['label']} ({direct['url']})"
        line += (
            f", one of the {direct['of']} products instances; the gateway balances over all "
            f"{direct['of']}."
            if direct["of"] > 1
            else "."
        )
    return line


def size_label(products: int) -> str:
    return f"{products // 1000}k" if products >= 1000 and products % 1000 == 0 else f"{products:,}"


def significant(value: float, digits: int = 3) -> str:
    """Fixed-point with `digits` significant digits: 0.220, 0.0100, 0.000841."""
    if value <= 0:
        return "0"
    return f"{value:.{max(digits, digits - 1 - math.floor(math.log10(value)))}f}"


def run_labels(reports: list[dict[str, Any]]) -> list[str]:
    """Column labels: the catalog size, and the scale when the runs' scales differ."""
    sizes = [size_label(report["meta"]["products"]) for report in reports]
    scales = [
        " ".join(f"{name} x{n}" for name, n in sorted((report["meta"].get("scale") or {}).items()))
        for report in reports
    ]
    if len(set(scales)) == 1:
        return sizes
    if len(set(sizes)) == 1:
        return [scale or "no --scale" for scale in scales]
    return [f"{size} {scale}".strip() for size, scale in zip(sizes, scales, strict=True)]
