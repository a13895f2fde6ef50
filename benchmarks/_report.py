"""Reporting for bench.py: the machine description, the markdown tables and the result files."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

import _wire

CONTENDERS = ("bare", "floor", "llmtrace")
NO_METRICS = "llmtrace-nometrics"
RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    versions = {}
    for package in ("llmtrace", "openai", "opentelemetry-api", "opentelemetry-sdk", "wrapt", "pydantic"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    versions[_wire.httpx_module().__name__] = _wire.httpx_module().__version__
    commit = None
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        import llmtrace

        where = Path(llmtrace.__file__).parent
        git = ["git", "-C", str(where), "describe", "--always", "--dirty", "--exclude=*"]
        commit = subprocess.run(git, capture_output=True, text=True, check=True).stdout.strip()
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "packages": versions,
        "llmtrace_commit": commit,
    }


def _iqr(stats: dict[str, Any]) -> str:
    return f"{stats['median']:.1f} [{stats['q1']:.1f}, {stats['q3']:.1f}]"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| scenario | bare µs | floor µs | llmtrace µs | floor added | llmtrace added "
        "| ratio (≤1.5) | µs/chunk vs floor (<1) | µs/chunk |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "n/a"
        chunk_floor = f"{r['per_chunk_vs_floor']:.2f}" if "chunks" in r else ""
        chunk = f"{r['per_chunk']:.2f}" if "chunks" in r else ""
        label = f"{r['scenario']}, content {'on' if r['capture_content'] else 'off'}"
        cells = [label, *(_iqr(r[c]) for c in CONTENDERS), _iqr(r["floor_added"]), _iqr(r["llmtrace_added"])]
        lines.append("| " + " | ".join([*cells, ratio, chunk_floor, chunk]) + " |")
    lines += [
        "",
        "| scenario | floor added, by min | llmtrace added, by min | ratio, by min "
        "| llmtrace without metrics added | gc-found cyclic objects/call (bare, floor, llmtrace) |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        label = f"{r['scenario']}, content {'on' if r['capture_content'] else 'off'}"
        ratio = f"{r['ratio_by_min']:.2f}" if r["ratio_by_min"] is not None else "n/a"
        no_metrics = _iqr(r[f"{NO_METRICS}_added"]) if NO_METRICS in r else "not run (--nometrics)"
        garbage = ", ".join(f"{r[c]['gc_objects_per_call']:.1f}" for c in CONTENDERS)
        cells = [label, f"{r['floor_added_by_min']:.1f}", f"{r['llmtrace_added_by_min']:.1f}", ratio]
        lines.append("| " + " | ".join([*cells, no_metrics, garbage]) + " |")
    return "\n".join(lines)


def write(report: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    m, cfg = report["machine"], report["config"]
    notes = [
        f"# llmtrace overhead benchmark ({report['date']})",
        "",
        f"Command: `{report['command']}` ({report['seconds']:.0f} s)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, {m['python']}, "
        f"load average at start {m['load_average']}.",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + f" (llmtrace at "
        f"{m['llmtrace_commit']}).",
        "",
        f"{cfg['rounds']} rounds after {cfg['warmup']} warm-up rounds; per round one batch per contender "
        f"(order rotated), {cfg['calls']} calls per batch ({cfg['stream_calls']} for streaming). Cells are "
        "median [interquartile range] µs per call; *added* is the median over rounds of (contender - bare) "
        "in the same round; *by min*: min(contender) - min(bare) over rounds. ratio = llmtrace added / "
        "floor added. Metrics: MeterProvider with an InMemoryMetricReader (never collected while timing). "
        f"instrument()+uninstrument() between batches: median {report['switch_us']:.0f} µs (untimed).",
        "",
        markdown(report),
        "",
    ]
    (RESULTS / "latest.md").write_text("\n".join(notes), encoding="utf-8")
