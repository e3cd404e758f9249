"""The gateway hop's report: the median of each figure over the rounds, and the
Markdown table written next to the JSON result."""

from __future__ import annotations

from typing import Any

__all__ = ["markdown", "summarize"]


def markdown(report: dict[str, Any]) -> str:
    rows = report["runs"]
    lines = [
        f"# Gateway hop, {report['meta']['stamp']}",
        "",
        f"{report['meta']['products']} products, wrk {report['meta']['seconds']} s per run, "
        f"{report['meta']['rounds']} rounds, the gateways loaded "
        f"{'in turn' if report['meta']['apart'] else 'at the same time'}; baseline: "
        f"`{report['meta']['baseline'] or '-'}`, gateway: `{report['meta']['head']}`.",
        "",
        "| target | conns | req/s | p50 ms | p99 ms | errors "
        "| gateway CPU ms/req | products CPU ms/req |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        gateway_cpu = row["cpu_ms"].get("gateway", "-") if row["target"] != "direct" else "-"
        lines.append(
            f"| {row['target']} | {row['connections']} | {row['rps']:.0f} | {row['p50_ms']:.2f} "
            f"| {row['p99_ms']:.2f} | {row['errors']} | {gateway_cpu} "
            f"| {row['cpu_ms']['products']} |"
        )
    summary = report.get("summary") or {}
    if summary:
        lines += ["", "| target | mean req/s | mean gateway CPU ms/req |", "|---|---|---|"]
        for name, figures in summary.items():
            lines.append(f"| {name} | {figures['rps']:.0f} | {figures['gateway_cpu_ms']} |")
    for name, found in (report.get("profiles") or {}).items():
        lines += ["", f"Profile of {name} ({found['samples']} samples), by part:", ""]
        lines += [f"- {part}: {share:.1%}" for part, share in found.get("parts", {}).items()]
        lines += ["", "Self time by package:", ""]
        lines += [f"- {package}: {share:.1%}" for package, share in found["self"].items()]
        if found.get("functions"):
            lines += ["", "Self time by function:", ""]
            lines += [f"- `{name}`: {share:.1%}" for name, share in found["functions"].items()]
    return "\n".join(lines) + "\n"


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    summary = {}
    for name in dict.fromkeys(row["target"] for row in runs if row["target"] != "direct"):
        mine = [row for row in runs if row["target"] == name]
        summary[name] = {
            "rps": round(sum(row["rps"] for row in mine) / len(mine), 1),
            "gateway_cpu_ms": round(sum(row["cpu_ms"]["gateway"] for row in mine) / len(mine), 3),
        }
    return summary
