"""Scenarios and contenders of the benchmarks, runnable in any contender's virtual environment.

bench.py imports this module (bare, floor and llmtrace in one process); peers.py runs it as a worker
process in each contender's own virtual environment (``python _contenders.py worker CONTENDER``), driven
over JSON lines on stdin/stdout, or under callgrind (``python _contenders.py callgrind CONTENDER PLAN``).

Every contender gets the same setup: a TracerProvider (default sampler, or ParentBased(TraceIdRatioBased(0))
for the unsampled cases) with a BatchSpanProcessor and a no-op exporter, a MeterProvider with an
InMemoryMetricReader that is never collected while measuring, and content capture on or off.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib.metadata
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _wire

# name: (provider, chunks consumed per call); "agent" is one decorated step: two tools, then one chat call.
SCENARIOS: dict[str, tuple[str, int]] = {
    "chat": ("openai", 1),
    "stream": ("openai", 50),
    "stream500": ("openai", 500),
    "anthropic": ("anthropic", 1),
    "anthropic_stream": ("anthropic", 50),
    "embeddings": ("openai", 1),
    "agent": ("openai", 1),
}
CONTENT_MARK = "why the sky is blue"  # in the prompt: its presence on a span means content was captured
PACKAGES = (
    "openai",
    "anthropic",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "wrapt",
    "pydantic",
    "httpx",
    "httpx2",
    "llmtrace",
    "opentelemetry-instrumentation",
    "opentelemetry-instrumentation-openai",
    "opentelemetry-instrumentation-anthropic",
    "openinference-instrumentation",
    "openinference-instrumentation-openai",
    "openinference-instrumentation-anthropic",
    "opentelemetry-instrumentation-openai-v2",
    "opentelemetry-instrumentation-genai-openai",
    "opentelemetry-instrumentation-genai-anthropic",
    "opentelemetry-util-genai",
)


@dataclass(frozen=True)
class Case:
    scenario: str
    capture: bool = False
    sampled: bool = True
    chunks: int = 0  # 0: the scenario's own count

    @property
    def expected_chunks(self) -> int:
        return self.chunks or SCENARIOS[self.scenario][1]

    @property
    def label(self) -> str:
        chunks = f" ({self.chunks} chunks)" if self.chunks else ""
        sampled = "" if self.sampled else ", unsampled"
        return f"{self.scenario}{chunks}, content {'on' if self.capture else 'off'}{sampled}"


def versions() -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    return found


# --- the SDK calls ---------------------------------------------------------------------------------


def sdk_call(case: Case) -> Callable[[], int]:
    """One provider SDK call of the scenario, fully consumed; returns the number of chunks (1 if none)."""
    chunks = case.expected_chunks
    chat_args: dict[str, Any] = {
        "model": _wire.CHAT_MODEL,
        "messages": _wire.MESSAGES,
        "temperature": 0.2,
        "max_tokens": 256,
    }
    if case.scenario in ("chat", "agent"):
        chat = _wire.client(_wire.chat_body(), "application/json")

        def chat_call() -> int:
            chat.chat.completions.create(**chat_args)
            return 1

        return chat_call
    if case.scenario in ("stream", "stream500"):
        stream = _wire.client(_wire.chat_stream_body(chunks), "text/event-stream")
        stream_args = {**chat_args, "stream": True, "stream_options": {"include_usage": True}}
        return functools.partial(_consume, stream.chat.completions.create, stream_args)
    if case.scenario == "embeddings":
        embed = _wire.client(_wire.embeddings_body("base64"), "application/json")

        def embeddings_call() -> int:
            embed.embeddings.create(
                model=_wire.EMBEDDING_MODEL, input="The quick brown fox jumps over the dog."
            )
            return 1

        return embeddings_call
    messages_args: dict[str, Any] = {
        "model": _wire.ANTHROPIC_MODEL,
        "system": _wire.MESSAGES[0]["content"],
        "messages": [_wire.MESSAGES[1]],
        "max_tokens": 256,
    }
    if case.scenario == "anthropic":
        claude = _wire.anthropic_client(_wire.anthropic_body(), "application/json")

        def messages_call() -> int:
            claude.messages.create(**messages_args)
            return 1

        return messages_call
    if case.scenario == "anthropic_stream":
        claude = _wire.anthropic_client(_wire.anthropic_stream_body(chunks), "text/event-stream")
        return functools.partial(_consume, claude.messages.create, {**messages_args, "stream": True})
    raise ValueError(f"unknown scenario {case.scenario!r}")


def _consume(create: Callable[..., Iterable[Any]], arguments: dict[str, Any]) -> int:
    n = 0
    for _ in create(**arguments):
        n += 1
    return n


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _identity(fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn


def _untraced(name: str) -> Decorator:
    return _identity


class Kit:
    """How a contender traces the user's own agent step and tools: decorator factories taking a name."""

    def __init__(
        self, agent: Callable[[str], Decorator] = _untraced, tool: Callable[[str], Decorator] = _untraced
    ) -> None:
        self.agent = agent
        self.tool = tool


def agent_step(kit: Kit, llm: Callable[[], int]) -> Callable[[], int]:
    """A decorated agent step that calls two tools, then the model once."""

    @kit.tool("search_docs")
    def search_docs(query: str, limit: int = 2) -> list[str]:
        """Search the astronomy notes."""
        return ["Rayleigh scattering goes as the inverse fourth power of wavelength.", "The Sun is white."][
            :limit
        ]

    @kit.tool("word_count")
    def word_count(text: str) -> int:
        """Count the words of a text."""
        return len(text.split())

    @kit.agent("astronomy_helper")
    def answer(question: str) -> int:
        notes = search_docs(question)
        word_count(notes[0])
        return llm()

    return functools.partial(answer, _wire.MESSAGES[1]["content"])


# --- the providers every contender is given ----------------------------------------------------------


class NoopExporter:
    """Drops every span (counting them; keeping the last batch only when asked, to inspect it)."""

    def __init__(self) -> None:
        self.exported = 0
        self.keep: list[Any] | None = None

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.exported += len(spans)
        if self.keep is not None:
            self.keep.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class Env:
    """The tracer and meter providers of one case."""

    def __init__(self, sampled: bool, schedule_delay_millis: float | None = None) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        self.exporter = NoopExporter()
        sampler = None if sampled else ParentBased(TraceIdRatioBased(0))
        self.tracer_provider = TracerProvider(sampler=sampler)
        processor = BatchSpanProcessor(self.exporter, schedule_delay_millis=schedule_delay_millis)  # type: ignore[arg-type]
        self.tracer_provider.add_span_processor(processor)
        self.metric_reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])

    def metric_names(self) -> list[str]:
        data = self.metric_reader.get_metrics_data()
        return sorted(
            {
                metric.name
                for resource in (data.resource_metrics if data else ())
                for scope in resource.scope_metrics
                for metric in scope.metrics
            }
        )

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


# --- contenders --------------------------------------------------------------------------------------


@dataclass
class SpanSpec:
    """One span as llmtrace makes it: what the floor re-creates by hand."""

    name: str
    kind: str
    attributes: dict[str, Any]


class Contender:
    """Instruments the SDKs for one case, and traces the agent step its own way."""

    name = "bare"
    scenarios: ClassVar[frozenset[str]] = frozenset(SCENARIOS)
    agent_tracing = "none"  # how the agent step's own spans are made (reported)

    def __init__(self) -> None:
        self.env: Env | None = None

    def instrument(self, env: Env | None, case: Case) -> None:
        self.env = env

    def uninstrument(self) -> None:
        self.env = None

    def kit(self, case: Case, floor: list[SpanSpec]) -> Kit:
        return Kit()

    def metric_names(self, env: Env) -> list[str]:
        """The metrics recorded so far (reported)."""
        return env.metric_names()

    def wrap_llm(self, call: Callable[[], int], floor: list[SpanSpec]) -> Callable[[], int]:
        return call

    def build(self, env: Env | None, case: Case, floor: list[SpanSpec]) -> Callable[[], int]:
        """Instrument, then make the scenario's call as this contender traces it."""
        self.instrument(env, case)
        llm = self.wrap_llm(sdk_call(case), floor)
        return agent_step(self.kit(case, floor), llm) if case.scenario == "agent" else llm


class ManualKit(Kit):
    """Plain OTel spans with llmtrace's names and attributes for the agent step and its tools."""

    def __init__(self, tracer: Any, floor: list[SpanSpec]) -> None:
        self.tracer = tracer
        self.specs = {spec.name: spec for spec in floor}

    def _span(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        from opentelemetry.trace import SpanKind

        spec = self.specs[name]
        tracer, kind, attributes = self.tracer, SpanKind[spec.kind], spec.attributes

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            def traced(*args: Any, **kwargs: Any) -> Any:
                with tracer.start_as_current_span(spec.name, kind=kind, attributes=attributes):
                    return fn(*args, **kwargs)

            return traced

        return decorate

    def agent(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._span(f"invoke_agent {name}")

    def tool(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._span(f"execute_tool {name}")


def llm_spec(floor: list[SpanSpec]) -> SpanSpec:
    (spec,) = [s for s in floor if not s.name.startswith(("invoke_agent ", "execute_tool "))]
    return spec


class Floor(Contender):
    name = "floor"
    agent_tracing = "manual spans"

    def kit(self, case: Case, floor: list[SpanSpec]) -> Kit:
        assert self.env is not None
        return ManualKit(self.env.tracer_provider.get_tracer("bench.floor"), floor)

    def wrap_llm(self, call: Callable[[], int], floor: list[SpanSpec]) -> Callable[[], int]:
        from opentelemetry.trace import SpanKind

        assert self.env is not None
        tracer, spec = self.env.tracer_provider.get_tracer("bench.floor"), llm_spec(floor)
        name, kind, attributes = spec.name, SpanKind[spec.kind], spec.attributes

        def floor_call() -> int:
            with tracer.start_as_current_span(name, kind=kind, attributes=attributes):
                return call()

        return floor_call


class Llmtrace(Contender):
    name = "llmtrace"
    agent_tracing = "llmtrace.agent / llmtrace.tool"

    def __init__(self, metrics: bool = True, own: bool = False) -> None:
        super().__init__()
        self.metrics = metrics
        self.own = own
        self.handle: Any = None
        self.reader: Any = None

    def instrument(self, env: Env, case: Case) -> None:
        if self.own:  # llmtrace builds the MeterProvider (its default) with a reader like the others'
            from opentelemetry.sdk.metrics.export import InMemoryMetricReader

            self.reader = InMemoryMetricReader()
            self.handle = self.start(env.tracer_provider, None, case, readers=[self.reader])
        else:
            self.handle = self.start(env.tracer_provider, env.meter_provider if self.metrics else None, case)
        self.env = env

    @staticmethod
    def start(tracer_provider: Any, meter_provider: Any, case: Case, readers: Any = None) -> Any:
        import llmtrace

        return llmtrace.instrument(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            metric_readers=readers,
            metrics_exporter="none",  # only used when neither is given: metrics off
            capture_content=case.capture,
            raise_internal_errors=True,  # same cost on the happy path; a bug must not look "cheap"
        )

    def uninstrument(self) -> None:
        if self.handle is not None:
            self.handle.uninstrument()
            self.handle = None
        self.env = None

    def kit(self, case: Case, floor: list[SpanSpec]) -> Kit:
        import llmtrace

        return Kit(lambda name: llmtrace.agent(name=name), lambda name: llmtrace.tool(name=name))

    def metric_names(self, env: Env) -> list[str]:
        if not self.own:
            return env.metric_names()
        data = self.reader.get_metrics_data()
        scopes = data.resource_metrics[0].scope_metrics if data else []
        return sorted({metric.name for scope in scopes for metric in scope.metrics})


class Instrumentors(Contender):
    """Peers built on opentelemetry-instrumentation's BaseInstrumentor, one per provider SDK."""

    modules: ClassVar[dict[str, str]] = {}  # provider -> "module:Class"

    def __init__(self) -> None:
        super().__init__()
        self.active: list[Any] = []

    def settings(self, case: Case) -> dict[str, Any]:
        return {}

    def instrument(self, env: Env, case: Case) -> None:
        import importlib

        self.env = env
        for provider in ("openai", "anthropic"):
            if provider not in self.modules:
                continue
            module, cls = self.modules[provider].split(":")
            instrumentor = getattr(importlib.import_module(module), cls)()
            instrumentor.instrument(
                tracer_provider=env.tracer_provider,
                meter_provider=env.meter_provider,
                skip_dep_check=True,
                **self.settings(case),
            )
            self.active.append(instrumentor)

    def uninstrument(self) -> None:
        for instrumentor in self.active:
            instrumentor.uninstrument()
        self.active.clear()
        self.env = None


class OpenLLMetry(Instrumentors):
    name = "openllmetry"
    agent_tracing = "manual spans (its decorators need traceloop-sdk)"
    modules: ClassVar[dict[str, str]] = {
        "openai": "opentelemetry.instrumentation.openai:OpenAIInstrumentor",
        "anthropic": "opentelemetry.instrumentation.anthropic:AnthropicInstrumentor",
    }

    def instrument(self, env: Env, case: Case) -> None:
        os.environ["TRACELOOP_TRACE_CONTENT"] = "true" if case.capture else "false"  # read on each call
        super().instrument(env, case)

    def kit(self, case: Case, floor: list[SpanSpec]) -> Kit:
        assert self.env is not None
        return ManualKit(self.env.tracer_provider.get_tracer("bench.manual"), floor)


class OpenInference(Instrumentors):
    name = "openinference"
    agent_tracing = "OITracer.agent / OITracer.tool"
    modules: ClassVar[dict[str, str]] = {
        "openai": "openinference.instrumentation.openai:OpenAIInstrumentor",
        "anthropic": "openinference.instrumentation.anthropic:AnthropicInstrumentor",
    }

    def config(self, case: Case) -> Any:
        from openinference.instrumentation import TraceConfig

        return TraceConfig(hide_inputs=not case.capture, hide_outputs=not case.capture)

    def settings(self, case: Case) -> dict[str, Any]:
        return {"config": self.config(case)}

    def kit(self, case: Case, floor: list[SpanSpec]) -> Kit:
        from openinference.instrumentation import OITracer

        assert self.env is not None
        tracer = OITracer(
            self.env.tracer_provider.get_tracer("bench.openinference"), config=self.config(case)
        )
        return Kit(lambda name: tracer.agent(name=name), lambda name: tracer.tool(name=name))


class OtelGenAI(Instrumentors):
    """The official OpenTelemetry GenAI instrumentations: latest conventions, content on spans only."""

    name = "otel-genai"
    agent_tracing = "opentelemetry-util-genai TelemetryHandler (agent and tool invocations)"
    modules: ClassVar[dict[str, str]] = {
        "openai": "opentelemetry.instrumentation.genai.openai:OpenAIInstrumentor",
        "anthropic": "opentelemetry.instrumentation.genai.anthropic:AnthropicInstrumentor",
    }

    def instrument(self, env: Env, case: Case) -> None:
        # Read once per process (stability opt-in) or when instrumenting (content mode).
        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
        os.environ["OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT"] = "false"
        mode = "SPAN_ONLY" if case.capture else "NO_CONTENT"
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = mode
        super().instrument(env, case)

    def kit(self, case: Case, floor: list[SpanSpec]) -> Kit:
        from opentelemetry.util.genai.handler import TelemetryHandler

        assert self.env is not None
        handler = TelemetryHandler(
            tracer_provider=self.env.tracer_provider, meter_provider=self.env.meter_provider
        )
        capture = handler.should_capture_content()

        def agent(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
            def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
                def traced(*args: Any, **kwargs: Any) -> Any:
                    with handler.invoke_local_agent(agent_name=name):
                        return fn(*args, **kwargs)

                return traced

            return decorate

        def tool(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
            def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
                def traced(*args: Any, **kwargs: Any) -> Any:
                    with handler.tool(name, tool_type="function") as invocation:
                        if capture:
                            invocation.arguments = {"args": list(args), **kwargs}
                        result = fn(*args, **kwargs)
                        if capture:
                            invocation.tool_result = result
                        return result

                return traced

            return decorate

        return Kit(agent, tool)


class OtelOpenAIV2(OtelGenAI):
    """opentelemetry-instrumentation-openai-v2 (OpenAI only; no Anthropic instrumentation of that line)."""

    name = "otel-openai-v2"
    scenarios: ClassVar[frozenset[str]] = frozenset(
        s for s, (provider, _) in SCENARIOS.items() if provider == "openai"
    )
    modules: ClassVar[dict[str, str]] = {
        "openai": "opentelemetry.instrumentation.openai_v2:OpenAIInstrumentor"
    }


CONTENDER_TYPES: dict[str, type[Contender]] = {
    c.name: c for c in (Contender, Floor, Llmtrace, OpenLLMetry, OpenInference, OtelGenAI, OtelOpenAIV2)
}


def contender(name: str) -> Contender:
    if name == "llmtrace-nometrics":
        return Llmtrace(metrics=False)
    if name == "llmtrace-ownmetrics":
        return Llmtrace(own=True)
    return CONTENDER_TYPES[name]()


def calibrate(case: Case) -> list[SpanSpec]:
    """The spans llmtrace makes for one call of the case (names, kinds, attributes), for the floor."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sampled = Case(case.scenario, case.capture, True, case.chunks)
    ours = Llmtrace(metrics=False)
    ours.handle = Llmtrace.start(provider, None, sampled)
    try:
        call = sdk_call(sampled)
        (agent_step(ours.kit(sampled, []), call) if case.scenario == "agent" else call)()
    finally:
        ours.uninstrument()
    return [
        SpanSpec(s.name, s.kind.name, _jsonable(dict(s.attributes or {})))
        for s in exporter.get_finished_spans()
    ]


def _jsonable(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in attributes.items()}


# --- one contender in one process: set up a case, run batches ------------------------------------------


@dataclass
class Prepared:
    """What a contender does for one case: the call, and the spans it was seen to make."""

    case: Case
    env: Env | None
    call: Callable[[], int]
    spans_per_call: int
    info: dict[str, Any] = field(default_factory=dict)


class Runner:
    """One contender in this process, one case at a time."""

    def __init__(self, name: str, schedule_delay_millis: float | None = None) -> None:
        self.contender = contender(name)
        self.schedule_delay_millis = schedule_delay_millis
        self.current: Prepared | None = None

    def setup(self, case: Case, floor: list[SpanSpec], probe: int = 3) -> Prepared:
        """Tear the previous case down, set this one up, and watch `probe` calls to learn what it emits."""
        self.teardown()
        c = self.contender
        if case.scenario not in c.scenarios:
            raise NotImplementedError(f"{c.name} has no instrumentation for {case.scenario}")
        env = Env(case.sampled, self.schedule_delay_millis) if c.name != "bare" else None
        call = c.build(env, case, floor)
        self.current = prepared = Prepared(case, env, call, 0)
        info = prepared.info
        if env is not None:
            env.exporter.keep = []
        for _ in range(probe):
            chunks = call()
        if chunks != case.expected_chunks:
            raise RuntimeError(f"{c.name} {case.label}: {chunks} chunks, expected {case.expected_chunks}")
        if env is not None:
            env.tracer_provider.force_flush()
            spans, env.exporter.keep = env.exporter.keep or [], None
            prepared.spans_per_call = len(spans) // probe
            info["spans_per_call"] = prepared.spans_per_call
            info["attributes_per_call"] = sum(len(s.attributes or {}) for s in spans) // probe
            info["content_on_span"] = any(
                CONTENT_MARK in str(v)
                for s in spans[-prepared.spans_per_call :]
                for v in (s.attributes or {}).values()
            ) or any(CONTENT_MARK in str(e.attributes) for s in spans for e in s.events)
            info["metrics"] = c.metric_names(env)
            if case.sampled and prepared.spans_per_call == 0:
                raise RuntimeError(f"{c.name} {case.label}: no span")
        gc.collect()
        gc.freeze()  # what is set up stays out of the collections made around each batch: they stay short
        return prepared

    def teardown(self) -> None:
        gc.unfreeze()
        if self.current is not None:
            self.contender.uninstrument()
            if self.current.env is not None:
                self.current.env.shutdown()
            self.current = None

    def batch(self, calls: int) -> tuple[float, float]:
        """`calls` calls with the cyclic GC off: (µs per call, objects the GC then found per call)."""
        p = self.current
        assert p is not None
        exporter = p.env.exporter if p.env else None
        if p.env is not None:
            p.env.tracer_provider.force_flush()
        before = exporter.exported if exporter else 0
        call = p.call
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter_ns()
            for _ in range(calls):
                chunks = call()
            elapsed = time.perf_counter_ns() - start
        finally:
            gc.enable()
        garbage = gc.collect()
        if p.env is not None:
            p.env.tracer_provider.force_flush()
        spans = (exporter.exported - before) if exporter else 0
        if chunks != p.case.expected_chunks or spans != calls * p.spans_per_call:
            raise RuntimeError(f"{self.contender.name} {p.case.label}: {chunks} chunks, {spans} spans")
        return elapsed / calls / 1000, garbage / calls

    def flush(self) -> None:
        if self.current is not None and self.current.env is not None:
            self.current.env.tracer_provider.force_flush()


def _case(data: dict[str, Any]) -> Case:
    return Case(data["scenario"], data["capture"], data["sampled"], data.get("chunks", 0))


def _floor(data: list[dict[str, Any]] | None) -> list[SpanSpec]:
    return [SpanSpec(**s) for s in data or []]


def worker(name: str) -> None:
    """Answer the driver's requests, one JSON object per line, until stdin closes."""
    runner = Runner(name)
    out = sys.stdout
    sys.stdout = sys.stderr  # whatever the libraries print must not corrupt the protocol
    hello = {"ready": name, "versions": versions(), "agent_tracing": runner.contender.agent_tracing}
    out.write(json.dumps(hello) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        try:
            if op == "setup":
                prepared = runner.setup(_case(request["case"]), _floor(request.get("floor")))
                reply: dict[str, Any] = {"info": prepared.info}
            elif op == "batch":
                us, junk = runner.batch(request["calls"])
                reply = {"us": us, "gc": junk}
            elif op == "calibrate":
                runner.teardown()  # instrument() would return the active handle
                reply = {"floor": [asdict(s) for s in calibrate(_case(request["case"]))]}
            elif op == "rss":
                reply = {"rss_kib": rss_kib()}
            else:
                raise ValueError(f"unknown op {op!r}")
        except NotImplementedError as exc:
            reply = {"na": str(exc)}
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    runner.teardown()


def rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


# --- instruction counts: one process per contender, every case, callgrind dumps between parts ---------

MARK_FUNCTION = "os_getppid*"
"""CPython's C function behind os.getppid, which nothing else calls: valgrind --dump-before=os_getppid*
writes the instruction counts of each part (the code run between two os.getppid() calls) to its own file."""


def callgrind(name: str, plan_file: str) -> None:
    """Run every case of the plan with N then 2N calls, each part closed by a callgrind dump.

    Valgrind starts with instrumentation off (``--instr-atstart=no``: imports run several times faster)
    and this turns it on once the first case is set up. For each case: set up, warm up, then (N calls,
    flush) and (2N calls, flush), the cyclic GC off, each part ended by os.getppid(). The span processor's
    timer is off (spans are exported by the flushes). The labels of the parts go to PLAN.labels.json.
    """
    plan = json.loads(Path(plan_file).read_text())
    runner = Runner(name, schedule_delay_millis=3_600_000)
    labels: list[str] = []
    measuring = False

    def mark(label: str) -> None:
        labels.append(label)
        os.getppid()

    for item in plan["cases"]:
        case = _case(item["case"])
        try:
            runner.setup(case, _floor(item.get("floor")), probe=1)
        except NotImplementedError:
            continue
        call, n = runner.current.call, item["n"]  # type: ignore[union-attr]
        if not measuring:
            for _ in range(20):  # caches and pools reach their steady size while it is still cheap
                call()
            command = ["callgrind_control", "--instr=on", str(os.getpid())]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            measuring = True
        for _ in range(item.get("warmup", 1)):
            call()
        runner.flush()
        gc.collect()
        gc.disable()
        mark(f"{item['key']}|setup")
        for calls in (n, 2 * n):
            for _ in range(calls):
                call()
            runner.flush()
            mark(f"{item['key']}|{calls}")
        gc.enable()
    runner.teardown()
    Path(plan_file + ".labels.json").write_text(json.dumps(labels))


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        worker(sys.argv[2])
    elif sys.argv[1] == "callgrind":
        callgrind(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(f"usage: {sys.argv[0]} worker CONTENDER | callgrind CONTENDER PLAN.json")
