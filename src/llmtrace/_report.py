"""Reading the file store back: a cost and latency report grouped by model, tenant, prompt..., and one
trace's spans for the tree.

Files are read line by line and only per-group aggregates are kept: memory grows with the number of
groups, never with the number of spans. Latency percentiles come from a log-bucketed histogram per group
(`Quantiles`): each reported percentile is within 1% of the exact one (relative error), with at most a
few thousand counters per group whatever the number of spans.
"""

from __future__ import annotations

import functools
import gc
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from llmtrace import _semconv as sc
from llmtrace._file_export import from_any_value

SERVICE_NAME = "service.name"
MISSING = "-"
MODEL_OPERATIONS = frozenset({sc.OP_CHAT, sc.OP_TEXT_COMPLETION, sc.OP_GENERATE_CONTENT, sc.OP_EMBEDDINGS})
"""What counts as a model call (the rows of a report unless every GenAI span is asked for)."""

DIMENSIONS: dict[str, tuple[str, ...]] = {
    "model": (sc.GEN_AI_REQUEST_MODEL, sc.GEN_AI_RESPONSE_MODEL),  # the first one present
    "provider": (sc.GEN_AI_PROVIDER_NAME,),
    "tenant": (sc.LLMTRACE_TENANT_ID,),
    "feature": (sc.LLMTRACE_FEATURE,),
    "prompt": (sc.GEN_AI_PROMPT_NAME,),  # with the version: "name@version"
    "operation": (sc.GEN_AI_OPERATION_NAME,),
    "service": (SERVICE_NAME,),  # a resource attribute
}
"""`--by` names -> the span attributes they group on."""

_ALWAYS = {
    sc.GEN_AI_OPERATION_NAME,
    sc.GEN_AI_REQUEST_MODEL,
    sc.GEN_AI_USAGE_INPUT_TOKENS,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS,
    sc.GEN_AI_USAGE_COST_AMOUNT,
    sc.ERROR_TYPE,
}
_STATUS_ERROR = 2
COLUMNS = ("calls", "errors", "input_tokens", "output_tokens", "cost_usd", "p50_ms", "p95_ms")


class Quantiles:
    """A bounded quantile sketch: counts in logarithmic buckets growing by `GAMMA`.

    A bucket's representative value is within ``(GAMMA - 1) / (GAMMA + 1)`` (just under 1%) of every
    value it holds, so the estimated percentile is within 1% of the exact one. Durations from 1 µs to a
    day need at most ~1,300 buckets.
    """

    GAMMA = 1.02
    _LOG_GAMMA = math.log(GAMMA)

    __slots__ = ("buckets", "count", "zeros")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.zeros = 0
        self.count = 0

    def add(self, value: float) -> None:
        self.count += 1
        if value <= 0:
            self.zeros += 1
            return
        index = math.ceil(math.log(value) / self._LOG_GAMMA)
        self.buckets[index] = self.buckets.get(index, 0) + 1

    def merge(self, other: Quantiles) -> None:
        self.count += other.count
        self.zeros += other.zeros
        for index, count in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + count

    def quantile(self, q: float) -> float | None:
        """The nearest-rank `q`-quantile (``0 < q <= 1``), or None when empty."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = self.zeros
        if seen >= rank:
            return 0.0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return 2 * self.GAMMA**index / (self.GAMMA + 1)
        return None  # unreachable: the counts add up to `count`


@dataclass(slots=True)
class Group:
    """The running totals of one report row."""

    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency: Quantiles = field(default_factory=Quantiles)

    def merge(self, other: Group) -> None:
        self.calls += other.calls
        self.errors += other.errors
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd
        self.latency.merge(other.latency)

    def row(self) -> dict[str, Any]:
        p50, p95 = self.latency.quantile(0.5), self.latency.quantile(0.95)
        return {
            "calls": self.calls,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 10),
            "p50_ms": None if p50 is None else round(p50, 3),
            "p95_ms": None if p95 is None else round(p95, 3),
        }


@dataclass(frozen=True)
class Query:
    """What a report counts: the `by` dimensions, the window ``[since_ns, until_ns)`` of span start
    times, and whether every GenAI span counts or only model calls."""

    by: tuple[str, ...]
    since_ns: int | None = None
    until_ns: int | None = None
    every_span: bool = False


@dataclass
class Report:
    """Rows keyed by the `by` values, the overall total, and how many lines and spans could not be read."""

    by: tuple[str, ...]
    groups: dict[tuple[str, ...], Group] = field(default_factory=dict)
    total: Group = field(default_factory=Group)
    unreadable_lines: int = 0
    unreadable_spans: int = 0

    def merge(self, other: Report) -> None:
        for key, group in other.groups.items():
            self.groups.setdefault(key, Group()).merge(group)
        self.total.merge(other.total)
        self.unreadable_lines += other.unreadable_lines
        self.unreadable_spans += other.unreadable_spans

    def rows(self) -> list[dict[str, Any]]:
        """One dict per group, the costliest first."""
        ordered = sorted(self.groups.items(), key=lambda kv: (-kv[1].cost_usd, -kv[1].calls, kv[0]))
        return [dict(zip(self.by, key, strict=True)) | group.row() for key, group in ordered]


CHUNK_BYTES = 32 * 1024 * 1024
"""Files are cut into pieces of about this size, aggregated in parallel and merged."""


def build_report(paths: Iterable[str], query: Query, jobs: int | None = None) -> Report:
    """Aggregate the spans in `paths` (OTLP/JSON lines) per distinct value of the `query.by` dimensions.

    Only model calls count unless `query.every_span`, which takes every span with a GenAI operation
    name (agents, tools, retrievals, workflows too). Files over `CHUNK_BYTES` are read by `jobs`
    processes (default: one per CPU); the partial reports merge exactly, percentiles included.
    """
    pieces: list[tuple[str, int, int]] = []
    for path in paths:
        size = os.path.getsize(path)
        count = max(1, -(-size // CHUNK_BYTES))
        pieces.extend((path, size * i // count, size * (i + 1) // count) for i in range(count))
    jobs = jobs or os.cpu_count() or 1
    report = Report(query.by)
    if jobs == 1 or len(pieces) == 1:
        for piece in pieces:
            report.merge(aggregate(query, *piece))
        return report
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(jobs, len(pieces))) as pool:
        for part in pool.map(functools.partial(_aggregate_piece, query), pieces):
            report.merge(part)
    return report


def _aggregate_piece(query: Query, piece: tuple[str, int, int]) -> Report:
    return aggregate(query, *piece)


def aggregate(query: Query, path: str, start: int = 0, end: int | None = None) -> Report:
    """The report of the lines of `path` that start in ``[start, end)`` bytes."""
    report = Report(query.by)
    groups, by = report.groups, query.by
    since, until, every_span = query.since_ns, query.until_ns, query.every_span
    collecting = gc.isenabled()
    gc.disable()  # parsed lines hold no cycles; the collector's passes over them cost ~15%
    try:
        for service, span in _spans(_lines(path, start, end), report):
            try:
                begin = int(span.get("startTimeUnixNano", 0))
                if (since is not None and begin < since) or (until is not None and begin >= until):
                    continue
                values = {a["key"]: a.get("value") for a in span.get("attributes", ())}
                operation = _text(values.get(sc.GEN_AI_OPERATION_NAME))
                if operation is None or (
                    not every_span
                    and operation not in MODEL_OPERATIONS
                    and sc.GEN_AI_REQUEST_MODEL not in values
                ):
                    continue
                key = tuple([_dimension(name, values, service) for name in by])
                failed = sc.ERROR_TYPE in values or span.get("status", {}).get("code") == _STATUS_ERROR
                duration_ms = (int(span.get("endTimeUnixNano", 0)) - begin) / 1e6
                tokens_in = int(_number(values.get(sc.GEN_AI_USAGE_INPUT_TOKENS)))
                tokens_out = int(_number(values.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS)))
                cost = _number(values.get(sc.GEN_AI_USAGE_COST_AMOUNT))
            except (KeyError, TypeError, ValueError, AttributeError):  # valid JSON, not an OTLP span
                report.unreadable_spans += 1
                continue
            group = groups.get(key)
            if group is None:
                group = groups[key] = Group()
            group.calls += 1
            group.errors += failed
            group.input_tokens += tokens_in
            group.output_tokens += tokens_out
            group.cost_usd += cost
            group.latency.add(duration_ms)
    finally:
        if collecting:
            gc.enable()
    for group in groups.values():
        report.total.merge(group)
    return report


def trace_spans(paths: Iterable[str], trace_id: str) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """The full id and the (service, span) pairs of the trace whose id is or starts with `trace_id`.

    Raises:
        LookupError: No trace, or more than one, has that id (prefix).
    """
    prefix = trace_id.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{1,32}", prefix):
        raise LookupError(f"not a hex trace id: {trace_id!r}")
    needle = f'"traceId":"{prefix}'.encode()
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    matching = (line for path in paths for line in _lines(path) if needle in line)
    for service, span in _spans(matching, None):
        if span.get("traceId", "").startswith(prefix):
            found.setdefault(span["traceId"], []).append((service, span))
    if not found:
        raise LookupError(f"no trace {prefix} in the given files")
    if len(found) > 1:
        raise LookupError(f"{len(found)} traces start with {prefix}: {', '.join(sorted(found))}")
    [(full, spans)] = found.items()
    return full, spans


def span_attributes(span: Mapping[str, Any]) -> dict[str, Any]:
    """A stored span's attributes as Python values."""
    return {a["key"]: from_any_value(a.get("value", {})) for a in span.get("attributes", ())}


def _lines(path: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """The lines of `path` that start in ``[start, end)``: a piece begins after the first newline
    at or past ``start - 1``, so each line belongs to exactly one piece."""
    with open(path, "rb") as lines:
        if start:
            lines.seek(start - 1)
            lines.readline()
        if end is None:
            yield from lines
            return
        while lines.tell() < end:
            line = lines.readline()
            if not line:
                return
            yield line


def _spans(lines: Iterable[bytes], report: Report | None) -> Iterator[tuple[str, dict[str, Any]]]:
    for line in lines:
        try:
            resource_spans = json.loads(line).get("resourceSpans", ())
        except (ValueError, AttributeError):  # a torn last line, or not an OTLP/JSON line
            if report is not None and line.strip():
                report.unreadable_lines += 1
            continue
        for resource in resource_spans:
            service = MISSING
            for attribute in resource.get("resource", {}).get("attributes", ()):
                if attribute["key"] == SERVICE_NAME:
                    service = str(from_any_value(attribute.get("value", {})))
            for scope in resource.get("scopeSpans", ()):
                yield from ((service, span) for span in scope.get("spans", ()))


def _text(value: Mapping[str, Any] | None) -> str | None:
    if not value:
        return None
    text = value.get("stringValue")
    if text is not None:
        return str(text)
    raw = from_any_value(value)
    return None if raw is None else str(raw)


def _number(value: Mapping[str, Any] | None) -> float:
    if not value:
        return 0.0
    raw = value.get("intValue")
    if raw is not None:
        return int(raw)
    raw = value.get("doubleValue")
    number = float(raw) if isinstance(raw, (int, float, str)) else 0.0
    return number if math.isfinite(number) else 0.0


def _dimension(name: str, values: Mapping[str, Any], service: str) -> str:
    if name == "service":
        return service
    if name == "prompt":
        prompt = _text(values.get(sc.GEN_AI_PROMPT_NAME))
        if prompt is None:
            return MISSING
        version = _text(values.get(sc.GEN_AI_PROMPT_VERSION))
        return prompt if version is None else f"{prompt}@{version}"
    for key in DIMENSIONS[name]:
        text = _text(values.get(key))
        if text is not None:
            return text
    return MISSING


_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, now: datetime | None = None) -> int:
    """Unix nanoseconds for ``24h`` / ``7d`` / ``30m`` / ``90s`` / ``2w`` ago, or an ISO 8601 time
    (UTC unless it names an offset).

    Raises:
        ValueError: Neither form.
    """
    text = text.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        now = now or datetime.now(timezone.utc)
        moment = now - timedelta(**{_UNITS[relative[2]]: float(relative[1])})
    else:
        iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        try:
            moment = datetime.fromisoformat(iso)
        except ValueError:
            raise ValueError(
                f"not a time: {text!r} (use an ISO 8601 time or an age like 24h, 7d, 30m)"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
