"""The ``llmtrace`` command (also ``python -m llmtrace``).

llmtrace report traces.jsonl --by model,tenant --since 7d      # cost, tokens, calls, errors, latency
llmtrace tree 4bf92f35 traces.jsonl                             # one trace as a tree
llmtrace run app.py --its-own-args                              # trace an unmodified program
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import runpy
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from llmtrace import _report

_RUN_VALUE_OPTIONS = {"--exporter", "--service-name", "--providers"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: ``sys.argv[1:]``); returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "run":
        return _run(args[1:])
    options = _parser().parse_args(args)
    command: Any = options.command
    try:
        return int(command(options))
    except BrokenPipeError:  # `llmtrace report ... | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmtrace", description="llmtrace: tracing for LLM applications.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    report = commands.add_parser(
        "report",
        help="cost, tokens, calls, errors and latency from OTLP/JSON trace files",
        description="Cost, tokens, calls, errors and p50/p95 latency of model calls, per group.",
    )
    report.add_argument("files", nargs="+", metavar="FILE", help="OTLP/JSON lines (and rotations)")
    report.add_argument(
        "--by",
        action="append",
        metavar="DIMENSION",
        help=f"group by {', '.join(_report.DIMENSIONS)} (repeat or comma-separate; default: model)",
    )
    report.add_argument("--since", help="only spans started at or after: ISO 8601 time or an age (24h, 7d)")
    report.add_argument("--until", help="only spans started before: ISO 8601 time or an age")
    report.add_argument("--format", choices=("table", "json", "csv"), default="table")
    report.add_argument(
        "--all-spans",
        action="store_true",
        help="count every GenAI span (agents, tools, retrievals...), not only model calls",
    )
    report.add_argument(
        "--jobs", type=int, metavar="N", help="processes reading large files (default: one per CPU)"
    )
    report.set_defaults(command=_report_command)

    tree = commands.add_parser(
        "tree",
        help="one trace as a tree with durations, tokens and cost",
        description="Print one trace as a tree with durations, tokens and cost per step.",
    )
    tree.add_argument("trace_id", metavar="TRACE_ID", help="the trace id, or its first characters")
    tree.add_argument("files", nargs="+", metavar="FILE", help="OTLP/JSON lines (and rotations)")
    tree.set_defaults(command=_tree_command)

    # Listed for --help only: main() hands `run` to _run, which keeps the program's arguments intact.
    commands.add_parser("run", help="run a Python program with llmtrace instrumenting it (see run --help)")
    return parser


# --- report ---------------------------------------------------------------------------------------


def _report_command(options: argparse.Namespace) -> int:
    by = [part.strip() for item in options.by or ["model"] for part in item.split(",") if part.strip()]
    unknown = [name for name in by if name not in _report.DIMENSIONS]
    if unknown or not by:
        return _fail(f"--by: unknown {unknown}; choose from {', '.join(_report.DIMENSIONS)}")
    try:
        since = _report.parse_time(options.since) if options.since else None
        until = _report.parse_time(options.until) if options.until else None
        query = _report.Query(tuple(by), since, until, every_span=options.all_spans)
        result = _report.build_report(options.files, query, jobs=options.jobs)
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    for count, what in ((result.unreadable_lines, "lines"), (result.unreadable_spans, "spans")):
        if count:
            print(f"llmtrace: skipped {count} unreadable {what}", file=sys.stderr)
    rows = result.rows()
    if options.format == "json":
        document = {
            "by": by,
            "since": _iso(since),
            "until": _iso(until),
            "rows": rows,
            "total": result.total.row(),
            "unreadable_lines": result.unreadable_lines,
            "unreadable_spans": result.unreadable_spans,
        }
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif options.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=[*by, *_report.COLUMNS], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        _table(by, rows, result.total.row(), sys.stdout)
    return 0


def _table(by: list[str], rows: list[dict[str, Any]], total: dict[str, Any], out: TextIO) -> None:
    from llmtrace._export import usd

    def cells(row: dict[str, Any]) -> list[str]:
        return [
            *(str(row.get(name, "")) for name in by),
            f"{row['calls']:,}",
            f"{row['errors']:,}",
            f"{row['input_tokens']:,}",
            f"{row['output_tokens']:,}",
            usd(row["cost_usd"]),
            "-" if row["p50_ms"] is None else f"{row['p50_ms']:,.1f}",
            "-" if row["p95_ms"] is None else f"{row['p95_ms']:,.1f}",
        ]

    header = [*by, "calls", "errors", "tokens in", "tokens out", "cost", "p50 ms", "p95 ms"]
    body = [cells(row) for row in rows]
    footer = cells({name: "" for name in by} | total)
    footer[0] = "total"
    widths = [max(len(line[i]) for line in (header, *body, footer)) for i in range(len(header))]

    def render(line: list[str]) -> str:
        text = [
            c.ljust(w) if i < len(by) else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(text).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out.write("\n".join([render(header), rule, *map(render, body), rule, render(footer)]) + "\n")


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).isoformat().replace("+00:00", "Z")


# --- tree -----------------------------------------------------------------------------------------


def _tree_command(options: argparse.Namespace) -> int:
    from llmtrace._export import TreeSpan, render_tree

    try:
        _, found = _report.trace_spans(options.files, options.trace_id)
    except (LookupError, OSError) as exc:
        return _fail(str(exc))
    spans = [
        TreeSpan(
            trace_id=int(span["traceId"], 16),
            span_id=int(span["spanId"], 16),
            parent_id=int(span["parentSpanId"], 16) if span.get("parentSpanId") else None,
            remote_parent=bool(int(span.get("flags", 0)) & 0x200),
            name=span.get("name", ""),
            start=int(span.get("startTimeUnixNano", 0)),
            end=int(span.get("endTimeUnixNano", 0)),
            attributes=_report.span_attributes(span),
        )
        for _, span in found
    ]
    sys.stdout.write("\n".join(render_tree(spans)) + "\n")
    return 0


# --- run ------------------------------------------------------------------------------------------


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmtrace run",
        usage="llmtrace run [options] (SCRIPT | -m MODULE) [ARGS...]",
        description=(
            "Run a Python program (a script, or a module with -m) as Python would, with llmtrace "
            "instrumenting it first. Settings come from these options, then LLMTRACE_* and OTEL_* "
            "variables."
        ),
    )
    parser.add_argument("--capture-content", action="store_true", default=None, help="record prompts/replies")
    parser.add_argument("--exporter", help="otlp, console, none, file or file:PATH")
    parser.add_argument("--service-name", help="service.name of the traces")
    parser.add_argument("--providers", help="instrument only these (comma-separated)")
    return parser


def _run(argv: list[str]) -> int:
    """``llmtrace run``: llmtrace's options end at the script, ``-m MODULE`` or ``--``; the rest is the
    program's own command line."""
    ours: list[str] = []
    module: str | None = None
    target: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "-m" and i + 1 < len(argv):
            module, target = argv[i + 1], argv[i + 2 :]
            break
        if arg == "--":
            target = argv[i + 1 :]
            break
        if not arg.startswith("-") or arg == "-":
            target = argv[i:]
            break
        ours.append(arg)
        if arg in _RUN_VALUE_OPTIONS and i + 1 < len(argv):
            ours.append(argv[i + 1])
            i += 1
        i += 1
    parser = _run_parser()
    options = parser.parse_args(ours)
    if module is None and not target:
        parser.error("a script or -m MODULE is required")

    import llmtrace

    try:
        handle = llmtrace.instrument(
            capture_content=options.capture_content,
            exporter=options.exporter,
            service_name=options.service_name,
            providers=options.providers,
        )
    except llmtrace.ConfigError as exc:
        return _fail(str(exc))
    try:
        if module is not None:
            sys.argv = [module, *target]
            sys.path[0] = os.getcwd()  # as `python -m` has it
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(target)
            if os.path.isfile(target[0]):  # as `python script.py` has it (run_path handles dirs and zips)
                sys.path[0] = os.path.dirname(os.path.abspath(target[0]))
            runpy.run_path(target[0], run_name="__main__")
    finally:
        handle.force_flush()
    return 0


def _fail(message: str) -> int:
    print(f"llmtrace: error: {message}", file=sys.stderr)
    return 2
