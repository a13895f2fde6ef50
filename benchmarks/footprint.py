"""What llmtrace costs besides each call: import and instrument(), modules, memory, per chunk, tokens, cost.

    python benchmarks/footprint.py            # ~10 min here; writes benchmarks/results/footprint.{json,md}
    python benchmarks/footprint.py --quick    # smoke test (fewer calls, no callgrind)
    python benchmarks/footprint.py --imports-only   # the import + instrument() rows only; writes nothing

Run in an environment with llmtrace, openai and anthropic installed (``nox -s bench`` runs it after bench.py).
It also creates an environment with llmtrace alone (no provider SDK) under .nox/bench-envs (see _venvs.py).

- import + instrument(): ``import llmtrace; llmtrace.instrument()`` (defaults: OTLP exporters) in fresh
  processes, with and without the provider SDKs installed, and (the usual case) after the application's
  own ``import openai``, which has already loaded pydantic, asyncio, typing_extensions...; median and min
  of the runs. Beside it, setting up the OpenTelemetry SDK the same way (trace, metrics and logs
  providers) with its OTLP/HTTP exporters built at once, and with them not built yet, as instrument()
  leaves them (they are built at the first export). The modules it loads beyond that second setup and
  its declared dependencies (wrapt, pydantic), and whether any provider SDK was loaded.
- memory: RSS and live Python memory blocks after 1k, 5k, 10k, 20k and 30k streamed calls (content on, a
  fresh response id each, the usual GC), their growth over the 20k calls after a 10k warm-up that fills
  llmtrace's bounded caches, and peak RSS; the un-instrumented SDK's own figures beside them.
- per chunk: llmtrace's added cost per streamed chunk, as the slope of its added cost (over the
  un-instrumented SDK) between 50- and 500-chunk streams: in instructions (callgrind), in ns estimated from
  them at the SDK's own ns per instruction in the same run, and in wall time (noisy on a shared machine).
- token counting per 1k tokens (bench.py --tokens) and the cost computation per call.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import _venvs
import peers

PROVIDER_MODULES = (
    "openai",
    "anthropic",
    "boto3",
    "botocore",
    "google.genai",
    "mistralai",
    "cohere",
    "groq",
    "ollama",
    "litellm",
    "langchain_core",
    "llama_index",
    "chromadb",
    "qdrant_client",
    "mcp",
)
_IMPORT_PROBE = """
import json, os, sys, time
{before}
t0 = time.perf_counter()
import llmtrace
t1 = time.perf_counter()
handle = llmtrace.instrument()
t2 = time.perf_counter()
times = {{"import_ms": (t1 - t0) * 1e3, "instrument_ms": (t2 - t1) * 1e3}}
print(json.dumps({{**times, "modules": sorted(sys.modules)}}))
sys.stdout.flush()
os._exit(0)  # no exit-time export attempts
"""
# What the application would load anyway to export the same way: the OTel SDK's trace, metrics and logs
# providers (what instrument() sets up by default) and the declared dependencies; with the OTLP/HTTP
# exporters built at once ("eager"), or not yet ("lazy", as instrument() leaves them: stand-ins from the
# SDK modules already loaded take their place).
_BASELINE_PROBE = """
import json, os, sys, time
{before}
t0 = time.perf_counter()
import wrapt
from pydantic import BaseModel, TypeAdapter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs import export as logs_export
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

if os.environ.get("EAGER"):
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as Logs
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as Metrics
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Spans
else:
    Logs = getattr(logs_export, "ConsoleLogRecordExporter", None) or logs_export.ConsoleLogExporter
    Metrics, Spans = ConsoleMetricExporter, ConsoleSpanExporter
resource = Resource.create({{}})
TracerProvider(resource=resource).add_span_processor(BatchSpanProcessor(Spans()))
MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(Metrics())])
LoggerProvider(resource=resource).add_log_record_processor(logs_export.BatchLogRecordProcessor(Logs()))
print(json.dumps({{"ms": (time.perf_counter() - t0) * 1e3, "modules": sorted(sys.modules)}}))
sys.stdout.flush()
import os
os._exit(0)
"""


def import_cost(python: Path, runs: int, before: str = "") -> dict[str, Any]:
    """The import rows, in fresh processes of ``python``; ``before`` (e.g. ``import openai``) runs first,
    untimed: what the application imported before calling instrument()."""
    env = {**peers.worker_env(), "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}  # never reached

    def probe(code: str, **extra: str) -> dict[str, Any]:
        command = [str(python), "-c", code.format(before=before)]
        done = subprocess.run(command, capture_output=True, text=True, env={**env, **extra}, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    probe(_IMPORT_PROBE)  # writes the .pyc files, as any earlier run would have
    probe(_BASELINE_PROBE, EAGER="1")
    samples, eager, lazy = [], [], []
    for _ in range(runs):  # interleaved: the machine's load drifts
        samples.append(probe(_IMPORT_PROBE))
        eager.append(probe(_BASELINE_PROBE, EAGER="1"))
        lazy.append(probe(_BASELINE_PROBE))
    baseline = set(lazy[-1]["modules"])
    loaded = set(samples[-1]["modules"])
    extra = sorted(m for m in loaded - baseline if m != "llmtrace" and not m.startswith("llmtrace."))
    total = [s["import_ms"] + s["instrument_ms"] for s in samples]
    # Not those the application imported itself (``before``, in the baseline too).
    providers = sorted(
        m for m in loaded - baseline if m.split(".")[0] in PROVIDER_MODULES or m in PROVIDER_MODULES
    )
    return {
        "python": str(python),
        "runs": runs,
        "import_ms": statistics.median(s["import_ms"] for s in samples),
        "instrument_ms": statistics.median(s["instrument_ms"] for s in samples),
        "total_ms": statistics.median(total),
        "total_ms_min": min(total),
        "before": before,
        "otel_setup_ms": statistics.median(b["ms"] for b in eager),
        "otel_setup_lazy_ms": statistics.median(b["ms"] for b in lazy),
        "modules_loaded": len(loaded),
        "llmtrace_modules": sorted(m for m in loaded if m == "llmtrace" or m.startswith("llmtrace.")),
        "extra_modules": extra,
        "provider_sdk_modules": providers,
    }


_SOAK_PROBE = """
import gc, itertools, json, sys
sys.path.insert(0, {here!r})
import _contenders as c

# A fresh response id per call, as a service sees: llmtrace's map of the last 10,000 response ids
# (_core._responses) fills up during the warm-up, as it would in production.
wire, ids = c._wire, itertools.count()


def _http_client(body, content_type, sdk="openai"):
    httpx, old = wire.httpx_module(sdk), wire._COMMON["id"].encode()

    def handler(request):
        fresh = body.replace(old, b"chatcmpl-%d" % next(ids))
        return httpx.Response(200, headers={{"content-type": content_type}}, content=fresh)

    return httpx.Client(transport=httpx.MockTransport(handler))


wire._http_client = _http_client
runner = c.Runner({contender!r})
runner.setup(c.Case("stream", capture=True, chunks={chunks}), [])
call, marks, rss, blocks = runner.current.call, {marks!r}, {{}}, {{}}
for i in range(1, max(marks) + 1):
    call()
    if i in marks:
        runner.flush()
        gc.collect()
        rss[i], blocks[i] = c.rss_kib(), sys.getallocatedblocks()
runner.teardown()
peak = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print(json.dumps({{"rss_kib": rss, "blocks": blocks, "peak_rss_kib": int(peak)}}))
"""


def memory(calls: int, warmup: int, chunks: int) -> dict[str, Any]:
    """RSS and live Python memory blocks over `calls` streamed calls (content captured) made after
    `warmup` calls, with llmtrace and with the un-instrumented SDK, each in a fresh process (both at once).

    The warm-up fills llmtrace's bounded caches (the 10,000 last response ids), so growth measured after
    it is what keeps growing. Blocks (``sys.getallocatedblocks()`` after a collection) count live Python
    objects; RSS also keeps what the allocator held at a peak (e.g. a span processor queue that once ran
    deeper than its usual 512 spans on a loaded machine: it holds up to 2,048).
    """
    end = warmup + calls
    marks = sorted(m for m in {1000, 5000, warmup, warmup + calls // 2, end} if 0 < m <= end)
    started = time.perf_counter()
    here = str(Path(__file__).parent)
    running = {
        name: subprocess.Popen(
            [sys.executable, "-c", _SOAK_PROBE.format(here=here, contender=name, chunks=chunks, marks=marks)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=peers.worker_env(),
        )
        for name in ("llmtrace", "bare")
    }
    found: dict[str, Any] = {}
    for name, process in running.items():
        out, err = process.communicate()
        if process.returncode:
            raise RuntimeError(f"{name}: {err[-3000:]}")
        data = json.loads(out.strip().splitlines()[-1])
        rss = {int(k): v for k, v in data["rss_kib"].items()}
        blocks = {int(k): v for k, v in data["blocks"].items()}
        found[name] = {
            "rss_kib": rss,
            "blocks": blocks,
            "peak_rss_kib": data["peak_rss_kib"],
            "growth_kib": rss[marks[-1]] - rss[warmup],
            "block_growth": blocks[marks[-1]] - blocks[warmup],
        }
    return {
        "calls": calls,
        "warmup": warmup,
        "chunks": chunks,
        **found["llmtrace"],
        "bare": found["bare"],
        "seconds": time.perf_counter() - started,
    }


def per_chunk(rounds: int, callgrind: bool) -> dict[str, Any]:
    """llmtrace's added cost per chunk: slope of (llmtrace - bare) between 50 and 500 chunks."""
    names = ("bare", "llmtrace")
    settings = peers.Settings(rounds=rounds, warmup=1, scenarios=("stream", "stream500"), contenders=names)
    log = open(Path("/tmp") / "llmtrace-footprint-workers.log", "w")  # noqa: SIM115
    workers = {n: peers.Worker(n, Path(sys.executable), log) for n in names}
    try:
        results = peers.wall_time(workers, settings)
    finally:
        for worker in workers.values():
            worker.close()
        log.close()
    report: dict[str, Any] = {"results": results}
    peers.analyse(report)
    found = {
        f"content {'on' if capture else 'off'}": peers.chunk_cost(report, capture)
        for capture in (False, True)
    }
    if callgrind:
        # The slope across the SDK's streams carries the SDK's own count, which moves by ~1k a chunk from
        # one run to the next even in one process; llmtrace's per-chunk work is counted alone instead.
        for capture in (False, True):
            counted = proxy_per_chunk(capture)
            row = found[f"content {'on' if capture else 'off'}"]
            row["instructions"] = counted["instructions"]
            row["ns_alone"] = counted["ns"]
    return found


def proxy_per_chunk(capture: bool) -> dict[str, float]:
    """`floor_ratio.py proxy`: the stream proxy and chat accumulator alone, per chunk, in instructions
    (callgrind) and in wall ns (best of 20, outside valgrind)."""
    command = [sys.executable, str(Path(__file__).parent / "floor_ratio.py"), "proxy", "--calls", "20"]
    out = subprocess.run(
        command + (["--capture"] if capture else []), check=True, capture_output=True, text=True
    )
    lines = out.stdout.splitlines()
    row = next(line for line in lines if line.startswith("| added instructions"))
    wall = next(line for line in lines if line.startswith("wall ns per chunk"))
    return {"instructions": float(row.split("|")[4].replace(",", "")), "ns": float(wall.rsplit(" ", 1)[1])}


def cost_computation(repeat: int = 20000) -> dict[str, float]:
    """µs per call of the cost lookup and computation llmtrace makes once per call."""
    from llmtrace._records import Usage
    from llmtrace.pricing import load_price_table

    table = load_price_table()
    found = {}
    for model, usage in (
        ("gpt-4o-mini-2024-07-18", Usage(input_tokens=38, output_tokens=92, cache_read_input_tokens=0)),
        ("claude-haiku-4-5-20251001", Usage(input_tokens=38, output_tokens=92, cache_write_input_tokens=0)),
    ):
        assert table.cost_of(usage, model) is not None
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter_ns()
            for _ in range(repeat):
                table.cost_of(usage, model)
            best = min(best, (time.perf_counter_ns() - start) / repeat / 1000)
        found[model] = best
    return found


def import_rows(imports: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| import + instrument() | environment | median ms (min) | modules loaded beyond OTel SDK + deps "
        "| provider SDK modules loaded |",
        "|---|---|---|---|---|",
    ]
    for name, r in imports.items():
        extra = f"{len(r['extra_modules'])}: " + ", ".join(r["extra_modules"][:30])
        providers = ", ".join(r["provider_sdk_modules"]) or "none"
        total = f"{r['total_ms']:.0f} ({r['total_ms_min']:.0f}); import {r['import_ms']:.0f}"
        total += f"; the same OTel SDK setup alone {r['otel_setup_lazy_ms']:.0f}"
        total += f" (with its OTLP exporters built at once {r['otel_setup_ms']:.0f})"
        lines.append(
            f"| `import llmtrace; llmtrace.instrument()` | {name} | {total} | {extra} | {providers} |"
        )
    return lines


def markdown(report: dict[str, Any]) -> str:
    lines = import_rows(report["imports"])
    m, bare = report["memory"], report["memory"]["bare"]
    lines += [
        "",
        f"| memory: streamed calls ({m['chunks']} chunks, content on, a fresh response id each) "
        "| llmtrace | un-instrumented SDK |",
        "|---|---|---|",
    ]
    lines += [
        f"| RSS after {k:,} calls | {v / 1024:.1f} MiB | {bare['rss_kib'][k] / 1024:.1f} MiB |"
        for k, v in sorted(m["rss_kib"].items())
    ]
    span = f"from {m['warmup']:,} to {m['warmup'] + m['calls']:,} calls (after the warm-up)"
    if m["warmup"] < 10_000:
        span += ", including the 10,000-id response map filling up"
    lines += [
        f"| RSS growth {span} | {m['growth_kib']} KiB | {bare['growth_kib']} KiB |",
        f"| live Python memory blocks, growth {span} | {m['block_growth']:,} | {bare['block_growth']:,} |",
        f"| peak RSS | {m['peak_rss_kib'] / 1024:.1f} MiB | {bare['peak_rss_kib'] / 1024:.1f} MiB |",
    ]
    lines += [
        "",
        "| per streamed chunk | llmtrace's work alone: instructions | alone: ns (best of 20) "
        "| slope of a whole instrumented stream, 50 -> 500 chunks: ns (wall time) |",
        "|---|---|---|---|",
    ]
    for name, row in report["per_chunk"].items():
        cells = [f"{row[k]:,.0f}" if k in row else "not run" for k in ("instructions", "ns_alone")]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {row['ns_wall_time']:,.0f} |")
    lines += ["", "| cost computation per call (PriceTable.cost_of) | µs |", "|---|---|"]
    lines += [f"| {model} | {us:.2f} |" for model, us in report["cost_us"].items()]
    lines += [
        "",
        "| token counting (fallback when a response has no usage) | tokens in text | µs per 1k tokens |",
        "|---|---|---|",
    ]
    lines += [f"| {r['tokenizer']} | {r['tokens']} | {r['us_per_1k']:.1f} |" for r in report["tokens"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and calls, no callgrind")
    parser.add_argument(
        "--soak-calls", type=int, help="streamed calls measured for RSS growth (default 20000)"
    )
    parser.add_argument(
        "--soak-warmup", type=int, help="streamed calls before (default 10000: the response-id map's size)"
    )
    parser.add_argument("--soak-chunks", type=int, default=10, help="chunks per streamed call (default 10)")
    parser.add_argument("--envs", type=Path, default=_venvs.DEFAULT_DIR)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--imports-only", action="store_true", help="the import rows only; writes nothing")
    args = parser.parse_args()
    started = time.perf_counter()
    import bench

    runs = 3 if args.quick else 9
    alone = _venvs.ensure("llmtrace-only", args.envs)
    _venvs.install_llmtrace(alone, _venvs.ROOT)  # the working tree, as bench.py measures it
    report: dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python", "benchmarks/footprint.py", *sys.argv[1:]]),
        "machine": bench.machine(),
        "imports": {
            "llmtrace only (no provider SDK installed)": import_cost(alone, runs),
            "with openai and anthropic installed": import_cost(Path(sys.executable), runs),
            "the same, after the application's `import openai` (untimed)": import_cost(
                Path(sys.executable), runs, before="import openai"
            ),
        },
    }
    if args.imports_only:
        print("\n".join(import_rows(report["imports"])))
        return
    print(json.dumps(report["imports"], indent=1)[:2000], flush=True)
    soak_calls = args.soak_calls or (2000 if args.quick else 20000)
    report["memory"] = memory(
        soak_calls, args.soak_warmup or (1000 if args.quick else 10000), args.soak_chunks
    )
    print(report["memory"], flush=True)
    report["per_chunk"] = per_chunk(3 if args.quick else 15, callgrind=not args.quick)
    report["cost_us"] = cost_computation(2000 if args.quick else 20000)
    report["tokens"] = bench.token_counting(print_table=False)
    report["peak_rss_kib_this_process"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report["seconds"] = time.perf_counter() - started
    table = markdown(report)
    print(table)
    if not args.no_write:
        peers.RESULTS.mkdir(parents=True, exist_ok=True)
        (peers.RESULTS / "footprint.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        m = report["machine"]
        head = [
            f"# llmtrace footprint ({report['date']})",
            "",
            f"Command: `{report['command']}` "
            f"({report['seconds']:.0f} s). llmtrace at {m['llmtrace_commit']}.",
            "",
            f"Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, {m['python']}, load average at start "
            f"{m['load_average']}. Packages: "
            + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
            + ".",
            "",
            "See benchmarks/README.md for what each row means.",
            "",
        ]
        (peers.RESULTS / "footprint.md").write_text("\n".join([*head, table, ""]), encoding="utf-8")


if __name__ == "__main__":
    main()
