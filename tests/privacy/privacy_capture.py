"""Everything llmtrace emits while a test runs, as text to search for what must not be there.

`Recorder` instruments llmtrace with in-memory span, metric and log pipelines and a handler on the
``llmtrace`` logger (records formatted as a standard handler would print them, tracebacks included);
`Emitted` is what it recorded, and `Emitted.find` reports every place a given string shows up: span
names, status descriptions, attribute keys and values, event names and attributes, metric data-point
attributes, log-record bodies and attributes, and llmtrace's log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
from llmtrace import _counting
from steps import Logs

FIGURES: dict[str, int] = {}
"""What the privacy tests covered, reported at the end of the run (tests/privacy/conftest.py)."""


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class Emitted:
    """The telemetry of one run, flattened to (where, text) pairs."""

    texts: list[tuple[str, str]] = field(default_factory=list)
    spans: list[Any] = field(default_factory=list)
    attributes: int = 0
    """Attribute values looked at: span, event, metric point and log-record attributes."""
    log_lines: int = 0
    sent: str = ""
    """What the SDKs sent, and the keys their clients held (set by the test: the credentials did
    reach them)."""
    held: set[str] = field(default_factory=set)

    def find(self, needles: Iterable[str]) -> list[str]:
        """``where: needle`` for every place one of `needles` appears."""
        wanted = [n for n in set(needles) if n]
        return [f"{where}: {needle!r}" for where, text in self.texts for needle in wanted if needle in text]

    def values(self, key: str) -> list[Any]:
        """The values of span attribute `key`, over all spans."""
        return [s.attributes[key] for s in self.spans if key in (s.attributes or {})]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif value is not None:
        yield str(value)


class Recorder:
    """llmtrace instrumented into memory; `finish()` uninstruments and returns what was emitted."""

    def __init__(self, **settings: Any) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.logs = Logs()
        self.handler = _Lines()
        self.logger = logging.getLogger("llmtrace")
        self.level = self.logger.level
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.DEBUG)
        self.handle = llmtrace.instrument(
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            logger_provider=self.logs.provider,
            **{"raise_internal_errors": True, **settings},
        )

    def finish(self) -> Emitted:
        try:
            self.handle.force_flush()
            return self._collect()
        finally:
            self.handle.uninstrument()
            self.logger.removeHandler(self.handler)
            self.logger.setLevel(self.level)
            self.tracer_provider.shutdown()
            self.meter_provider.shutdown()
            self.logs.provider.shutdown()

    def _collect(self) -> Emitted:
        _counting.drain()  # spans of calls without reported usage end once their tokens are counted
        out = Emitted(spans=list(self.spans.get_finished_spans()))

        def add(where: str, value: Any) -> None:
            out.texts.extend((where, text) for text in _strings(value))

        def add_attributes(where: str, attributes: Any) -> None:
            for key, value in (attributes or {}).items():
                out.attributes += 1
                add(f"{where} {key}", key)
                add(f"{where} {key}", value)

        for span in out.spans:
            add(f"span {span.name!r} name", span.name)
            add(f"span {span.name!r} status", span.status.description)
            add_attributes(f"span {span.name!r}", span.attributes)
            for event in span.events:
                add(f"span {span.name!r} event", event.name)
                add_attributes(f"span {span.name!r} event {event.name!r}", event.attributes)
        data = self.reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data is not None else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        add_attributes(f"metric {metric.name}", point.attributes)
        for record in self.logs.records():
            add("log record body", record.body)
            add_attributes("log record", record.attributes)
        for line in self.handler.lines:
            out.log_lines += 1
            add("llmtrace log line", line)
        return out
