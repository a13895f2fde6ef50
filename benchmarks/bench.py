"""llmtrace's added cost per call, against an un-instrumented call and a hand-made OTel span.

    python benchmarks/bench.py                      # full run (~3.5 min here); writes benchmarks/results/
    python benchmarks/bench.py --quick              # CI smoke: few rounds, small batches
    python benchmarks/bench.py --rounds 100 --calls 50 --only chat --nometrics

Scenarios (a real ``openai.OpenAI`` answered by a ``MockTransport`` with canned wire bodies, see _wire.py):
``chat`` (non-streaming chat.completions.create), ``stream`` (the same streamed, ``--chunks`` (50) chunks
consumed, the last one carrying usage) and ``embeddings`` (embeddings.create, base64 as the SDK requests by
default), each with content capture off and on. Contenders, interleaved in every round (order rotated):

- ``bare``: the SDK call, un-instrumented (verified: the patched method is a plain function again);
- ``floor``: the bare call inside ``tracer.start_as_current_span(...)`` carrying exactly the attributes
  llmtrace puts on its span for that call (copied from one instrumented call made beforehand);
- ``llmtrace``: the call with ``llmtrace.instrument()`` active (instrumented just before its batch and
  uninstrumented just after, outside the timed region), metrics on;
- ``llmtrace-nometrics`` (only with ``--nometrics``): the same with metrics off.

``floor`` and ``llmtrace`` share one TracerProvider with a BatchSpanProcessor and a no-op exporter (which
only counts the spans it is given, to check every contender emitted what it should); llmtrace's metrics
go to a MeterProvider with an InMemoryMetricReader that is never collected during the timing.
Each batch: ``gc.collect()``, gc disabled, ``perf_counter_ns`` around ``--calls`` calls, gc re-enabled.
Added costs are medians over rounds of the per-round difference (contender - bare in the same round).

Instruction counts (deterministic, unlike wall time on a shared machine): ``--callgrind SCENARIO CONTENDER
[--capture]`` sets everything up, makes 20 warm-up calls, then ``--calls`` calls, and exits. Run it under
callgrind with N and 2N calls; the difference of the "Collected" totals over N is instructions per call:

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python benchmarks/bench.py --callgrind chat llmtrace --calls 100   # then --calls 200

``--callgrind-report SCENARIO [--capture] [--calls N]`` runs those commands for the four contenders and
prints the table. Both runs of a pair must import the same llmtrace: do not edit src/ meanwhile.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import _wire
import openai.resources.chat.completions as chat_module
import openai.resources.embeddings as embeddings_module
from _report import CONTENDERS, NO_METRICS, RESULTS, machine, markdown, write
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult as Result
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import llmtrace

SCENARIOS = ("chat", "stream", "embeddings")


class NoopExporter(SpanExporter):
    """Drops every span (counting them); stands in for a real exporter's network I/O."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> Result:
        self.exported += len(spans)
        return Result.SUCCESS


@dataclass
class Case:
    """One scenario with content capture off or on, and what its floor span must carry."""

    scenario: str
    capture: bool
    call: Callable[[], int]  # makes one SDK call, consumes it, returns the number of chunks (1 if none)
    patched: tuple[type, str]  # the SDK method llmtrace wraps for this call
    chunks: int
    span_name: str = ""
    span_attributes: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.scenario}, content {'on' if self.capture else 'off'}"


def make_cases(scenarios: Sequence[str], chunks: int = 50) -> list[Case]:
    chat = _wire.client(_wire.chat_body(), "application/json")
    stream = _wire.client(_wire.chat_stream_body(chunks), "text/event-stream")
    embed = _wire.client(_wire.embeddings_body("base64"), "application/json")
    chat_args: dict[str, Any] = {
        "model": _wire.CHAT_MODEL,
        "messages": _wire.MESSAGES,
        "temperature": 0.2,
        "max_tokens": 256,
    }

    def chat_call() -> int:
        chat.chat.completions.create(**chat_args)
        return 1

    stream_args = {**chat_args, "stream": True, "stream_options": {"include_usage": True}}

    def stream_call() -> int:
        n = 0
        chunks: Iterable[Any] = stream.chat.completions.create(**stream_args)
        for _ in chunks:
            n += 1
        return n

    def embeddings_call() -> int:
        embed.embeddings.create(model=_wire.EMBEDDING_MODEL, input="The quick brown fox jumps over the dog.")
        return 1

    chat_target = (chat_module.Completions, "create")
    table = {
        "chat": (chat_call, chat_target, 1),
        "stream": (stream_call, chat_target, chunks),
        "embeddings": (embeddings_call, (embeddings_module.Embeddings, "create"), 1),
    }
    return [Case(s, capture, *table[s]) for s in scenarios for capture in (False, True)]


class Bench:
    """The providers shared by the floor and llmtrace contenders, and the batch runner."""

    def __init__(self, schedule_delay_millis: float | None = None) -> None:
        self.exporter = NoopExporter()
        self.tracer_provider = TracerProvider()
        processor = BatchSpanProcessor(self.exporter, schedule_delay_millis=schedule_delay_millis)
        self.tracer_provider.add_span_processor(processor)
        self.metric_reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])
        self.floor_tracer = self.tracer_provider.get_tracer("bench.floor")
        self.switch_ns: list[int] = []  # instrument() + uninstrument() wall time, per llmtrace batch

    def instrument(
        self, capture: bool, tracer_provider: Any = None, metrics: bool = True, own: bool = False
    ) -> llmtrace.Handle:
        """llmtrace on this bench's providers; with `own`, on a MeterProvider llmtrace builds itself (its
        default) with an in-memory reader like this bench's."""
        return llmtrace.instrument(
            tracer_provider=tracer_provider or self.tracer_provider,
            meter_provider=self.meter_provider if metrics and not own else None,
            metric_readers=[InMemoryMetricReader()] if own else None,
            metrics_exporter="none",  # only used when neither is given: metrics off
            capture_content=capture,
            raise_internal_errors=True,  # same cost on the happy path; a bug must not look "cheap"
        )

    def duration_points(self) -> int:
        """How many calls llmtrace's duration histogram has counted (checks that metrics were on)."""
        data = self.metric_reader.get_metrics_data()
        return sum(
            int(getattr(point, "count", 0))
            for resource in (data.resource_metrics if data else ())
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == "gen_ai.client.operation.duration"
            for point in metric.data.data_points
        )

    def calibrate(self, case: Case) -> None:
        """Make one instrumented call and copy its span's name and attributes for the floor."""
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with self.instrument(case.capture, provider):
            case.call()
        (span,) = exporter.get_finished_spans()
        case.span_name, case.span_attributes = span.name, dict(span.attributes or {})

    def contender(self, case: Case, name: str) -> Callable[[], int]:
        if name != "floor":
            return case.call
        tracer, call = self.floor_tracer, case.call
        span_name, attributes = case.span_name, case.span_attributes

        def floor() -> int:
            with tracer.start_as_current_span(span_name, kind=SpanKind.CLIENT, attributes=attributes):
                return call()

        return floor

    def batch(self, case: Case, name: str, calls: int) -> tuple[float, float]:
        """Run `calls` calls of one contender; (µs per call, cyclic garbage objects per call)."""
        fn = self.contender(case, name)
        t0 = time.perf_counter_ns()
        handle = self.instrument(case.capture, metrics=name == "llmtrace") if "llmtrace" in name else None
        switch = time.perf_counter_ns() - t0
        try:
            wrapped = type(inspect.getattr_static(*case.patched)) is not types.FunctionType
            if wrapped != (handle is not None):
                raise RuntimeError(f"{case.label}/{name}: SDK method wrapped={wrapped}")
            self.tracer_provider.force_flush()
            spans_before = self.exporter.exported
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter_ns()
                for _ in range(calls):
                    chunks = fn()
                elapsed = time.perf_counter_ns() - start
            finally:
                gc.enable()
            garbage = gc.collect()
        finally:
            if handle is not None:
                t0 = time.perf_counter_ns()
                handle.uninstrument()
                self.switch_ns.append(switch + time.perf_counter_ns() - t0)
        self.tracer_provider.force_flush()
        spans = self.exporter.exported - spans_before
        if chunks != case.chunks or spans != (0 if name == "bare" else calls):
            raise RuntimeError(f"{case.label}/{name}: {chunks} chunks, {spans} spans for {calls} calls")
        return elapsed / calls / 1000, garbage / calls


def measure(
    bench: Bench, case: Case, *, contenders: tuple[str, ...], rounds: int, warmup: int, calls: int
) -> dict[str, Any]:
    samples: dict[str, list[float]] = {c: [] for c in contenders}
    garbage: dict[str, list[float]] = {c: [] for c in contenders}
    for r in range(warmup + rounds):
        k = r % len(contenders)
        for name in contenders[k:] + contenders[:k]:
            us, junk = bench.batch(case, name, calls)
            if r >= warmup:
                samples[name].append(us)
                garbage[name].append(junk)
    result: dict[str, Any] = {"scenario": case.scenario, "capture_content": case.capture, "calls": calls}
    for name in contenders:
        result[name] = summary(samples[name]) | {"gc_objects_per_call": statistics.median(garbage[name])}
        if name != "bare":
            deltas = [c - b for c, b in zip(samples[name], samples["bare"], strict=True)]
            result[f"{name}_added"] = summary(deltas)
            result[f"{name}_added_by_min"] = min(samples[name]) - min(samples["bare"])
    floor_added, ours_added = result["floor_added"]["median"], result["llmtrace_added"]["median"]
    result["ratio"] = ours_added / floor_added if floor_added > 0 else None
    by_min = result["floor_added_by_min"]
    result["ratio_by_min"] = result["llmtrace_added_by_min"] / by_min if by_min > 0 else None
    if case.chunks > 1:
        result["chunks"] = case.chunks
        result["per_chunk_vs_floor"] = (ours_added - floor_added) / case.chunks
        result["per_chunk"] = ours_added / case.chunks
    result["span_attributes"] = len(case.span_attributes or {})
    return result


def summary(values: list[float]) -> dict[str, Any]:
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
    return {"median": statistics.median(values), "q1": q1, "q3": q3, "min": min(values), "samples": values}


def run_callgrind(scenario: str, contender: str, capture: bool, calls: int, chunks: int) -> None:
    """Set up, warm up, then make exactly `calls` calls of one contender (for valgrind).

    As in the timed batches, the cyclic GC is off during the calls: a full collection costs tens of
    millions of instructions and would land in one run of a pair and not the other. The span processor's
    timer is off too (spans are exported by the flushes), so its wake-ups do not depend on run time.
    """
    bench = Bench(schedule_delay_millis=3_600_000)
    (case,) = [c for c in make_cases([scenario], chunks) if c.capture == capture]
    bench.calibrate(case)
    handle = bench.instrument(capture, metrics=contender == "llmtrace") if "llmtrace" in contender else None
    fn = bench.contender(case, contender)
    for _ in range(20):
        fn()
    bench.tracer_provider.force_flush()
    gc.collect()
    gc.disable()
    for _ in range(calls):
        fn()
    gc.enable()
    bench.tracer_provider.force_flush()
    if handle is not None:
        handle.uninstrument()


def callgrind_report(scenario: str, capture: bool, calls: int, chunks: int) -> None:
    """Run the --callgrind mode under valgrind with N and 2N calls; print instructions per call."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    counts: dict[str, float] = {}
    for contender in (*CONTENDERS, NO_METRICS):
        totals = []
        for n in (calls, 2 * calls):
            command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
            command += [
                __file__,
                "--callgrind",
                scenario,
                contender,
                "--calls",
                str(n),
                "--chunks",
                str(chunks),
            ]
            command += ["--capture"] if capture else []
            print("$", shlex.join(command), flush=True)
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            totals.append(int(re.findall(r"Collected : (\d+)", done.stderr)[-1]))
        counts[contender] = (totals[1] - totals[0]) / calls
    label = f"{scenario}, content {'on' if capture else 'off'}"
    lines = [f"{label}: instructions per call ({calls} vs {2 * calls} calls)"]
    for name, value in counts.items():
        added = f"  (+{value - counts['bare']:,.0f})" if name != "bare" else ""
        lines.append(f"  {name:18} {value:>12,.0f}{added}")
    floor_added = counts["floor"] - counts["bare"]
    ratio = (counts["llmtrace"] - counts["bare"]) / floor_added
    lines.append(f"  ratio llmtrace added / floor added: {ratio:.2f}")
    if scenario == "stream":
        per_chunk = (counts["llmtrace"] - counts["floor"]) / chunks
        lines.append(f"  per chunk ({chunks}): (llmtrace - floor) / chunks = {per_chunk:,.0f}")
    print("\n" + "\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = f"-{chunks}chunks" if scenario == "stream" else ""
    out = RESULTS / f"callgrind-{scenario}{suffix}-content-{'on' if capture else 'off'}.json"
    record = {
        "case": label,
        "calls": calls,
        "chunks": chunks if scenario == "stream" else 1,
        "command": shlex.join(["python", *sys.argv]),
        "instructions_per_call": counts,
        "ratio": ratio,
        "machine": machine(),
    }
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def token_counting(rounds: int = 7, repeat: int = 50, print_table: bool = True) -> list[dict[str, Any]]:
    """Microseconds per 1,000 tokens of llmtrace's fallback counting (off the caller's thread in use):
    tiktoken o200k_base and cl100k_base (needs TIKTOKEN_CACHE_DIR offline) and the chars/4 estimate."""
    from llmtrace import tokens

    text = _wire.MESSAGES[1]["content"] + " " + " ".join(_wire.MESSAGES[0]["content"] for _ in range(60))
    rows = []
    for model in ("gpt-4o-mini", "gpt-4", "claude-3-haiku"):
        count, tokenizer = tokens.count_tokens([text], model)  # loads the encoding once
        best = min(_time_counting(tokens.count_tokens, text, model, repeat) for _ in range(rounds))
        rows.append(
            {"tokenizer": f"{tokenizer} ({model})", "tokens": count, "us_per_1k": best / count * 1000}
        )
    if print_table:
        print("| tokenizer | tokens in text | µs per 1k tokens (min of rounds) |\n|---|---|---|")
        for r in rows:
            print(f"| {r['tokenizer']} | {r['tokens']} | {r['us_per_1k']:.1f} |")
    return rows


def _time_counting(count: Any, text: str, model: str, repeat: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(repeat):
        count([text], model)
    return (time.perf_counter_ns() - start) / repeat / 1000


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few rounds and calls (CI smoke test)")
    parser.add_argument("--rounds", type=int, help="measured rounds (default 60; 3 with --quick)")
    parser.add_argument("--warmup", type=int, help="unmeasured rounds first (default 3; 1 with --quick)")
    parser.add_argument("--calls", type=int, help="calls per batch, /5 when streaming (default 50; 20 quick)")
    parser.add_argument("--chunks", type=int, default=50, help="chunks per streamed response (default 50)")
    parser.add_argument("--nometrics", action="store_true", help=f"also run {NO_METRICS} (metrics off)")
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run only this scenario")
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/")
    parser.add_argument("--callgrind", nargs=2, metavar=("SCENARIO", "CONTENDER"))
    parser.add_argument("--callgrind-report", choices=SCENARIOS, metavar="SCENARIO")
    parser.add_argument("--capture", action="store_true", help="content capture on (callgrind modes)")
    parser.add_argument("--tokens", action="store_true", help="token counting cost per 1k tokens, then exit")
    args = parser.parse_args(argv)
    if args.tokens:
        token_counting()
        return
    if args.callgrind:
        scenario, contender = args.callgrind
        if scenario not in SCENARIOS or contender not in (*CONTENDERS, NO_METRICS):
            parser.error(f"--callgrind takes one of {SCENARIOS} and one of {(*CONTENDERS, NO_METRICS)}")
        run_callgrind(scenario, contender, args.capture, args.calls or 100, args.chunks)
        return
    if args.callgrind_report:
        callgrind_report(args.callgrind_report, args.capture, args.calls or 100, args.chunks)
        return
    # Short batches, many rounds: on a shared machine the speed drifts within seconds, and a contender's
    # batch is only compared with the other batches of its own round.
    rounds = args.rounds or (3 if args.quick else 60)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    calls = args.calls or (20 if args.quick else 50)
    stream_calls = max(1, calls // 5)  # a streamed call costs ~8x a plain one
    contenders = (*CONTENDERS, NO_METRICS) if args.nometrics else CONTENDERS
    started = time.perf_counter()
    bench = Bench()
    report: dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(["python", *sys.argv]),
        "machine": machine(),
        "config": {
            "rounds": rounds,
            "warmup": warmup,
            "calls": calls,
            "stream_calls": stream_calls,
            "contenders": contenders,
        },
        "results": [],
    }
    for case in make_cases(args.only or SCENARIOS, args.chunks):
        bench.calibrate(case)
        n = stream_calls if case.chunks > 1 else calls
        print(f"{case.label}: {rounds} rounds x {len(contenders)} contenders x {n} calls", flush=True)
        report["results"].append(
            measure(bench, case, contenders=contenders, rounds=rounds, warmup=warmup, calls=n)
        )
    report["switch_us"] = statistics.median(bench.switch_ns) / 1000
    expected = sum((warmup + rounds) * r["calls"] + 1 for r in report["results"])  # +1: calibration
    recorded = bench.duration_points()
    if recorded != expected:
        raise RuntimeError(f"llmtrace recorded {recorded} operation durations, expected {expected}")
    report["seconds"] = time.perf_counter() - started
    table = markdown(report)
    print(f"\n{table}\n\nµs per call: median [IQR]; added = median over rounds of (contender - bare).")
    print(f"Finished in {report['seconds']:.0f} s.")
    if not args.no_write:
        write(report)
        print(f"Wrote {RESULTS / 'latest.json'} and {RESULTS / 'latest.md'}")


if __name__ == "__main__":
    main()
