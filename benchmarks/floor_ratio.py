"""llmtrace's added instructions per call against the floor, with metrics off AND on, in one callgrind run.

    python benchmarks/floor_ratio.py chat                 # the five contenders below
    python benchmarks/floor_ratio.py stream --calls 40
    python benchmarks/floor_ratio.py chat --unsampled     # the same under an ALWAYS_OFF sampler
    python benchmarks/floor_ratio.py chunks --calls 4     # added instructions per stream chunk (50 vs 500)
    python benchmarks/floor_ratio.py proxy --calls 20     # the proxy and accumulator alone, per chunk

``floor`` is bench.py's: the bare call inside one hand-made span with llmtrace's name, kind and attributes.
``floor+metrics`` adds what llmtrace records per call to a MeterProvider, recorded by hand: the duration,
the input and output token counts and the cost histograms with the same attributes. It is the floor of
llmtrace with metrics on (``llmtrace``: the application's MeterProvider, the SDK aggregates;
``llmtrace-ownmetrics``: a MeterProvider llmtrace builds, as by default, which aggregates its histograms
itself), as ``floor`` is the floor of ``llmtrace-nometrics``.

One process runs every contender under ``valgrind --tool=callgrind --dump-before=os_getppid*``: each
contender's N calls are fenced by ``os.getppid()`` calls, so callgrind writes their count to a file of its
own, and set-up and warm-up never count. Instruction counts repeat exactly whatever else the machine does.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONTENDERS = ("bare", "floor", "floor+metrics", "llmtrace-nometrics", "llmtrace", "llmtrace-ownmetrics")


CHUNK_CONTENDERS = ("bare", "llmtrace-nometrics", "llmtrace")
CHUNK_SIZES = (50, 500)


def chunk_worker(calls: int, capture: bool) -> None:
    """Per chunk: bare and llmtrace at 50 and at 500 chunks, all in this one process, so the SDK's own
    count (which differs by ~0.5% from one process to the next) is the same for every contender."""
    import bench

    b = bench.Bench(schedule_delay_millis=3_600_000)
    for chunks in CHUNK_SIZES:
        (case,) = [c for c in bench.make_cases(["stream"], chunks) if c.capture == capture]
        for name in CHUNK_CONTENDERS:
            handle = b.instrument(capture, metrics=name == "llmtrace") if "llmtrace" in name else None
            for _ in range(3):
                case.call()
            b.tracer_provider.force_flush()
            gc.collect()
            gc.disable()
            os.getppid()  # dump: everything before
            for _ in range(calls):
                case.call()
            os.getppid()  # dump: the N calls
            gc.enable()
            b.tracer_provider.force_flush()
            if handle is not None:
                handle.uninstrument()


PROXY_SIZES = (100, 1000)


def proxy_worker(calls: int, capture: bool) -> None:
    """Per chunk, llmtrace's own work alone: the stream proxy and the chat accumulator over real
    ChatCompletionChunk objects (parsed once by the SDK beforehand), against a bare loop over the same
    objects. No SDK parsing in the measured loops, so nothing varies but llmtrace's work."""
    import _wire
    import bench

    from llmtrace import _core
    from llmtrace._stream import StreamProxy
    from llmtrace.instrumentors import openai as oi

    b = bench.Bench(schedule_delay_millis=3_600_000)
    client = _wire.client(_wire.chat_stream_body(max(PROXY_SIZES)), "text/event-stream")
    args = {"model": _wire.CHAT_MODEL, "messages": _wire.MESSAGES, "stream": True}
    args["stream_options"] = {"include_usage": True}
    chunks = list(client.chat.completions.create(**args))
    handle = b.instrument(capture, metrics=False)
    runtime = _core.RUNTIME
    assert runtime is not None

    def traced(n: int) -> None:
        request = oi.chat_request(client.chat.completions, args, capture)
        call = _core.start_call(request, runtime)
        for _ in StreamProxy(iter(chunks[:n]), call, oi.ChatAccumulator(request, capture)):
            pass

    def bare(n: int) -> None:
        for _ in iter(chunks[:n]):
            pass

    for n in PROXY_SIZES:
        for fn in (bare, traced):
            fn(n)
            gc.collect()
            gc.disable()
            os.getppid()
            for _ in range(calls):
                fn(n)
            os.getppid()
            gc.enable()
    timed = {}
    for n in PROXY_SIZES:
        for name, fn in (("bare", bare), ("llmtrace", traced)):
            best = float("inf")
            for _ in range(20):
                started = time.perf_counter_ns()
                fn(n)
                best = min(best, time.perf_counter_ns() - started)
            timed[(name, n)] = best
    small, large = PROXY_SIZES
    added = {n: timed[("llmtrace", n)] - timed[("bare", n)] for n in PROXY_SIZES}
    print(
        f"wall ns per chunk (best of 20): {(added[large] - added[small]) / (large - small):.0f}",
        file=sys.stderr,
    )
    b.tracer_provider.force_flush()
    handle.uninstrument()


def worker(scenario: str, calls: int, capture: bool, unsampled: bool) -> None:
    import bench
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
    from opentelemetry.trace import SpanKind

    from llmtrace import _semconv as sc

    b = bench.Bench(schedule_delay_millis=3_600_000)
    if unsampled:
        b.tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
        b.floor_tracer = b.tracer_provider.get_tracer("bench.floor")
    (case,) = [c for c in bench.make_cases([scenario], 50) if c.capture == capture]
    b.calibrate(case)
    attributes = case.span_attributes
    meter = b.meter_provider.get_meter("bench.floor")
    duration, tokens, cost = (
        meter.create_histogram("floor." + name, explicit_bucket_boundaries_advisory=list(buckets))
        for name, buckets in (
            (sc.METRIC_OPERATION_DURATION, sc.DURATION_BUCKETS),
            (sc.METRIC_TOKEN_USAGE, sc.TOKEN_BUCKETS),
            (sc.METRIC_COST, sc.COST_BUCKETS),
        )
    )
    keys = (sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_REQUEST_MODEL)
    keys += (sc.GEN_AI_RESPONSE_MODEL, sc.SERVER_ADDRESS, sc.SERVER_PORT)
    labels = {k: attributes[k] for k in keys if k in attributes}

    def floor_metrics() -> int:
        started = time.perf_counter()
        tracer = b.floor_tracer
        with tracer.start_as_current_span(case.span_name, kind=SpanKind.CLIENT, attributes=attributes):
            chunks = case.call()
        duration.record(time.perf_counter() - started, labels)
        for kind, key in (("input", sc.GEN_AI_USAGE_INPUT_TOKENS), ("output", sc.GEN_AI_USAGE_OUTPUT_TOKENS)):
            if key in attributes:  # embeddings report input tokens only
                tokens.record(attributes[key], {**labels, sc.GEN_AI_TOKEN_TYPE: kind})
        cost.record(attributes[sc.GEN_AI_USAGE_COST_AMOUNT], labels)
        return chunks

    for name in CONTENDERS:
        own = name == "llmtrace-ownmetrics"
        handle = (
            b.instrument(capture, metrics=name != "llmtrace-nometrics", own=own)
            if "llmtrace" in name
            else None
        )
        fn: Any = floor_metrics if name == "floor+metrics" else b.contender(case, name)
        for _ in range(30):
            fn()
        b.tracer_provider.force_flush()
        gc.collect()
        gc.disable()
        os.getppid()  # dump: everything before
        for _ in range(calls):
            fn()
        os.getppid()  # dump: the N calls
        gc.enable()
        b.tracer_provider.force_flush()
        if handle is not None:
            handle.uninstrument()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=("chat", "stream", "embeddings", "chunks", "proxy"))
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--capture", action="store_true", help="content capture on")
    parser.add_argument("--unsampled", action="store_true", help="an ALWAYS_OFF sampler")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.scenario == "chunks":
            chunk_worker(args.calls, args.capture)
        elif args.scenario == "proxy":
            proxy_worker(args.calls, args.capture)
        else:
            worker(args.scenario, args.calls, args.capture, args.unsampled)
        return
    flags = [f for f, on in (("--capture", args.capture), ("--unsampled", args.unsampled)) if on]
    chunk_order = [(name, chunks) for chunks in CHUNK_SIZES for name in CHUNK_CONTENDERS]
    if args.scenario == "proxy":
        chunk_order = [(name, n) for n in PROXY_SIZES for name in ("bare", "llmtrace")]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        command = ["valgrind", "--tool=callgrind", "--dump-before=os_getppid*", f"--callgrind-out-file={out}"]
        command += [sys.executable, __file__, args.scenario, "--calls", str(args.calls), "--worker", *flags]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        totals: dict[Any, float] = {}
        for dump in Path(tmp).glob("cg.out.*"):
            part = int(dump.name.rsplit(".", 1)[1])
            found = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(), re.MULTILINE)
            if found and part % 2 == 0:  # parts 2, 4, ...: the contenders' N calls, in order
                order = chunk_order if args.scenario in ("chunks", "proxy") else CONTENDERS
                totals[order[part // 2 - 1]] = int(found.group(1)) / args.calls
    if args.scenario == "chunks":
        report_chunks(totals, flags)
        return
    if args.scenario == "proxy":
        small, large = PROXY_SIZES
        added = {n: totals[("llmtrace", n)] - totals[("bare", n)] for n in PROXY_SIZES}
        slope = (added[large] - added[small]) / (large - small)
        print(f"proxy {' '.join(flags)}: llmtrace's instructions per chunk (stream proxy + chat accumulator)")
        print(f"| chunks | {small} | {large} | per chunk |")
        print("|---|---|---|---|")
        print(f"| added instructions | {added[small]:,.0f} | {added[large]:,.0f} | {slope:,.0f} |")
        # the same loops timed outside valgrind (best of 20 runs per size)
        plain = [sys.executable, __file__, "proxy", "--calls", "1", "--worker", *flags]
        print(
            subprocess.run(plain, check=True, capture_output=True, text=True).stderr.strip().splitlines()[-1]
        )
        return
    bare = totals["bare"]
    title = " ".join([args.scenario, *flags])
    print(f"{title}: instructions per call, {args.calls} calls")
    print("| contender | per call | added | x its floor's added |")
    print("|---|---|---|---|")
    floors = {
        "llmtrace-nometrics": "floor",
        "llmtrace": "floor+metrics",
        "llmtrace-ownmetrics": "floor+metrics",
    }
    for name in CONTENDERS:
        added = totals[name] - bare
        floor = floors.get(name)
        ratio = f"{added / (totals[floor] - bare):.3f}" if floor else ""
        print(f"| {name} | {totals[name]:,.0f} | {added:,.0f} | {ratio} |")


def report_chunks(totals: dict[Any, float], flags: list[str]) -> None:
    small, large = CHUNK_SIZES
    print(f"chunks {' '.join(flags)}: instructions per streamed call, and added per chunk".strip())
    print(f"| contender | {small} chunks | {large} chunks | added per chunk (slope over bare) |")
    print("|---|---|---|---|")
    for name in CHUNK_CONTENDERS:
        at = {n: totals[(name, n)] for n in CHUNK_SIZES}
        if name == "bare":
            slope = ""
        else:
            added = {n: at[n] - totals[("bare", n)] for n in CHUNK_SIZES}
            slope = f"{(added[large] - added[small]) / (large - small):,.0f}"
        print(f"| {name} | {at[small]:,.0f} | {at[large]:,.0f} | {slope} |")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
