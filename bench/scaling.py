"""The table of several runs (--sizes, --compare) and the plot."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from bench.report import run_labels, significant
from bench.system import scale_flags


def scaling_summary(
    reports: list[dict[str, Any]], names: list[str], kind: str = "sizes"
) -> dict[str, Any]:
    """The figures the table of several runs shows, by scenario, connections and run
    (`kind`: "sizes", one run per catalog size, or "compare", any result files)."""
    first = reports[0]["meta"]
    summary: dict[str, Any] = {
        "meta": {
            "kind": kind,
            "stamp": first["stamp"],
            "labels": run_labels(reports),
            "sizes": [report["meta"]["products"] for report in reports],
            "files": names,
            "seed": [report["meta"]["seed"] for report in reports],
            "seed_s": [report["meta"].get("seed_s") for report in reports],
            "scales": [report["meta"].get("scale") or {} for report in reports],
            "durations_s": [report["meta"]["duration_s"] for report in reports],
            "stamps": [report["meta"]["stamp"] for report in reports],
            "images": first.get("images", True),
            **{
                key: first.get(key)
                for key in (
                    "duration_s",
                    "connections",
                    "customers",
                    "bcrypt_rounds",
                    "cpus",
                    "machine",
                    "wrk",
                )
            },
        },
        "scenarios": [],
    }
    # The ratios again, unrounded: login and orders are thousandths of the ceiling.
    ceilings = [
        {row["connections"]: row for row in report["scenarios"][0]["runs"]} for report in reports
    ]
    for scenario in reports[0]["scenarios"]:
        rows = []
        for row in scenario["runs"]:
            figures: list[dict[str, Any] | None] = []
            for report, ceiling in zip(reports, ceilings, strict=True):
                same = next(
                    (
                        other
                        for s in report["scenarios"]
                        if s["name"] == scenario["name"]
                        for other in s["runs"]
                        if other["connections"] == row["connections"]
                    ),
                    None,
                )
                if same is None:
                    figures.append(None)
                    continue
                base = ceiling.get(row["connections"]) or {}
                figures.append(
                    {
                        key: same.get(key)
                        for key in ("requests", "rps", "p99_ms", "non_2xx_3xx", "socket_errors")
                    }
                    | {
                        "rps_vs_ceiling": round(same["rps"] / base["rps"], 6)
                        if base.get("rps")
                        else None,
                        "p99_x_ceiling": round(same["p99_ms"] / base["p99_ms"], 3)
                        if base.get("p99_ms") and same.get("requests")
                        else None,
                    }
                )
            rows.append({"connections": row["connections"], "runs": figures})
        title = scenario["title"]
        if scenario["name"] == "order_spread":  # its title counts the first run's products
            title = "place order, products in stock at random, via gateway"
        summary["scenarios"].append({"name": scenario["name"], "title": title, "runs": rows})
    return summary


def scaling_markdown(summary: dict[str, Any]) -> str:
    """The table of several runs: per scenario and connection count, rps and p99 as ratios
    to the same run's ceiling, and the last run's ratio over the first's."""
    meta = summary["meta"]
    labels = meta["labels"]
    first, last = labels[0], labels[-1]
    if meta["kind"] == "sizes":
        seeding = "; ".join(
            f"{label}: {seconds:.0f} s" if seconds is not None else f"{label}: ?"
            for label, seconds in zip(labels, meta["seed_s"], strict=True)
        )
        command = " ".join(["shop up", *scale_flags(meta["scales"][0])])
        pictures = "" if meta.get("images", True) else ", without pictures (--no-images)"
        intro = [
            f"# Benchmark {meta['stamp']}: catalog sizes {', '.join(labels)}",
            "",
            f"One fresh `{command.replace('--scale=', '--scale ')}` per catalog size, one "
            f"after the other; {meta['duration_s']} s per run; {meta['cpus']} CPUs "
            f"({meta['machine']}); bcrypt rounds {meta['bcrypt_rounds']}; "
            f"{meta['customers']} customers.",
            "",
            "Each size's full table: "
            + ", ".join(
                f"[{label}]({name}.md)" for label, name in zip(labels, meta["files"], strict=True)
            )
            + f". Seeding (`shop seed-demo`{pictures}): {seeding}.",
        ]
        what = "the catalog size costs nothing"
    else:
        intro = [
            f"# Benchmark comparison: {', '.join(labels)}",
            "",
            "Compared runs (each ratio is to the ceiling measured in its own run):",
            "",
            *(
                f"- {label}: [{Path(name).name}]({name}) ({stamp}, {size:,} products, "
                f"`{' '.join(['shop up', *scale_flags(scale)]).replace('--scale=', '--scale ')}`"
                f", {duration} s per run)"
                for label, name, stamp, size, scale, duration in zip(
                    labels,
                    meta["files"],
                    meta["stamps"],
                    meta["sizes"],
                    meta["scales"],
                    meta["durations_s"],
                    strict=True,
                )
            ),
        ]
        what = "no difference"
    lines = [
        *intro,
        "",
        "rps x ceil: requests/s as a fraction of the ceiling measured in the same run at the "
        "same connection count (higher is better). p99 x ceil: p99 latency as a multiple of "
        "the ceiling's (lower is better). The ceiling rows give its absolute req/s and p99 ms "
        "instead: the ceiling does not depend on the catalog, so their spread is the "
        f"run-to-run noise. {last}/{first}: the {last} figure divided by the {first} one "
        f"(1.00: {what}; rps below 1 or p99 above 1: {last} is slower). "
        "! marks a run with errors (see its own table).",
        "",
    ]
    header = ["scenario", "conns"]
    for label in labels:
        header += [f"{label} rps x ceil", f"{label} p99 x ceil"]
    header += [f"rps {last}/{first}", f"p99 {last}/{first}"]
    lines += ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}" if a and b else "-"

    for scenario in summary["scenarios"]:
        ceiling = scenario["name"] == "ceiling"
        rps_key, p99_key = ("rps", "p99_ms") if ceiling else ("rps_vs_ceiling", "p99_x_ceiling")
        title = "ceiling (absolute req/s, p99 ms)" if ceiling else scenario["title"]
        for row in scenario["runs"]:
            cells = [title, str(row["connections"])]
            for figures in row["runs"]:
                if figures is None:
                    cells += ["-", "-"]
                    continue
                flag = " !" if figures["non_2xx_3xx"] or figures["socket_errors"] else ""
                rps, p99 = figures[rps_key], figures[p99_key]
                if not figures.get("requests", 1):
                    cells += [f"no request{flag}", "-"]
                elif ceiling:
                    cells += [f"{rps:,.0f}{flag}", f"{p99:.2f}{flag}"]
                else:
                    cells += [
                        "-" if rps is None else f"{significant(rps)}{flag}",
                        "-" if p99 is None else f"{p99:.1f}{flag}",
                    ]
            head, tail = row["runs"][0] or {}, row["runs"][-1] or {}
            cells += [
                ratio(tail.get(rps_key), head.get(rps_key)),
                ratio(tail.get(p99_key), head.get(p99_key)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def compare(files: list[Path], out: Path) -> int:
    """`--compare A.json B.json ...`: the table of several runs from their result files."""
    reports = [json.loads(path.read_text()) for path in files]
    if any("scenarios" not in report or "products" not in report["meta"] for report in reports):
        print("--compare takes the result files of single runs, not -sizes.json", file=sys.stderr)
        return 2
    names = [os.path.relpath(path.resolve(), out.resolve()) for path in files]
    summary = scaling_summary(reports, [str(Path(n).with_suffix(".md")) for n in names], "compare")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stamp}-compare.json").write_text(json.dumps(summary, indent=1) + "\n")
    table = scaling_markdown(summary)
    (out / f"{stamp}-compare.md").write_text(table)
    print(table)
    print(f"wrote {out / (stamp + '-compare.md')} and {stamp}-compare.json")
    return 0


def plot(report: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 5))
    for scenario in report["scenarios"]:
        conns = [row["connections"] for row in scenario["runs"]]
        left.plot(
            conns, [row["rps"] for row in scenario["runs"]], marker="o", label=scenario["title"]
        )
        middle.plot(conns, [row["p50_ms"] for row in scenario["runs"]], marker="o")
        right.plot(conns, [row["p99_ms"] for row in scenario["runs"]], marker="o")
    for axes, title in (
        (left, "requests/s"),
        (middle, "p50 latency (ms)"),
        (right, "p99 latency (ms)"),
    ):
        axes.set_xscale("log", base=2)
        connections = report["meta"]["connections"]
        axes.set_xticks(connections, [str(c) for c in connections])
        axes.minorticks_off()
        axes.set_yscale("log")
        axes.set_xlabel("connections")
        axes.set_title(title)
        axes.grid(True, which="both", alpha=0.3)
    figure.legend(loc="lower center", ncol=4, fontsize="small")
    meta = report["meta"]
    figure.suptitle(
        f"shop benchmark {meta['stamp']}: {meta['products']} products, {meta['cpus']} CPUs"
        + "".join(f", {name} x{count}" for name, count in sorted(meta.get("scale", {}).items()))
    )
    figure.tight_layout(rect=(0, 0.12, 1, 0.95))
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True
