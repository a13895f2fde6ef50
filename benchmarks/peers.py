"""llmtrace against its peers, each contender in its own virtual environment and process.

    python benchmarks/peers.py                 # full run (~25 min here); writes results/peers.{json,md}
    python benchmarks/peers.py --quick         # smoke test: few rounds, no callgrind
    python benchmarks/peers.py --only chat --only stream500 --contenders bare,floor,llmtrace,openllmetry
    nox -s bench_peers -- --quick

Contenders (see _contenders.py and _venvs.py): bare (the SDK, un-instrumented), floor (one hand-made span
per call with llmtrace's attributes), llmtrace, openllmetry, openinference, otel-genai (the official
OpenTelemetry GenAI instrumentations) and otel-openai-v2 (the official OpenAI-only line). Each runs in a
worker process of its own environment; the driver (standard library only) interleaves their batches round
by round, then counts instructions per call of each contender and case under callgrind.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import _venvs

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WORKER = HERE / "_contenders.py"
CONTENDERS = (
    "bare",
    "floor",
    "llmtrace",
    "llmtrace-ownmetrics",
    "llmtrace-nometrics",
    "openllmetry",
    "openinference",
    "otel-genai",
    "otel-openai-v2",
)
OURS = ("llmtrace", "llmtrace-ownmetrics", "llmtrace-nometrics")
NO_METRICS = "llmtrace-nometrics"
PEER_NAMES = ("openllmetry", "openinference", "otel-genai", "otel-openai-v2")
SCENARIOS = ("chat", "stream", "stream500", "anthropic", "anthropic_stream", "embeddings", "agent")
NON_STREAMING = ("chat", "anthropic", "embeddings")
# calls per timed batch (about 20-40 ms of work each) and per callgrind part (N, then 2N)
BATCH_CALLS = {
    "chat": 20,
    "stream": 4,
    "stream500": 1,
    "anthropic": 20,
    "anthropic_stream": 5,
    "embeddings": 25,
}
BATCH_CALLS["agent"] = 15
CALLGRIND_CALLS = {
    "chat": 4,
    "stream": 2,
    "stream500": 1,
    "anthropic": 4,
    "anthropic_stream": 2,
    "embeddings": 4,
}
CALLGRIND_CALLS["agent"] = 3


def cases(scenarios: Sequence[str]) -> list[dict[str, Any]]:
    """Each scenario with content off and on, sampled, and content off unsampled."""
    variants = ((False, True), (True, True), (False, False))
    return [{"scenario": s, "capture": c, "sampled": p} for s in scenarios for c, p in variants]


def label(case: dict[str, Any]) -> str:
    sampled = "" if case["sampled"] else ", unsampled"
    return f"{case['scenario']}, content {'on' if case['capture'] else 'off'}{sampled}"


def key(case: dict[str, Any]) -> str:
    return f"{case['scenario']}|{int(case['capture'])}|{int(case['sampled'])}"


def worker_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # imports as users have them: from bytecode
    cache = _venvs.ROOT / ".tiktoken-cache"
    if cache.is_dir():
        env["TIKTOKEN_CACHE_DIR"] = str(cache)
    for name in ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "TRACELOOP_TRACE_CONTENT"):
        env.pop(name, None)  # each contender's content setting is made per case
    return env


class Worker:
    """One contender's process, answering JSON requests line by line."""

    def __init__(self, name: str, python: Path, log: IO[str]) -> None:
        self.name = name
        command = [str(python), str(WORKER), "worker", name]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=worker_env()
        )
        self.hello = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.name} exited (see its log)")
        return json.loads(line)  # type: ignore[no-any-return]

    def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def summary(values: list[float]) -> dict[str, Any]:
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
    return {"median": statistics.median(values), "q1": q1, "q3": q3, "min": min(values)}


@dataclass
class Settings:
    rounds: int
    warmup: int
    scenarios: tuple[str, ...]
    contenders: tuple[str, ...]


def wall_time(workers: dict[str, Worker], settings: Settings) -> list[dict[str, Any]]:
    """Per case: calibrate the floor, set every contender up, then interleaved rounds of batches."""
    results = []
    for case in cases(settings.scenarios):
        floor = workers["llmtrace"].ask("calibrate", case=case)["floor"] if "llmtrace" in workers else []
        record: dict[str, Any] = {"case": case, "label": label(case), "contenders": {}}
        active = []
        for name, worker in workers.items():
            reply = worker.ask("setup", case=case, floor=floor)
            if "error" in reply:
                raise RuntimeError(f"{name} {label(case)}: {reply['error']}")
            record["contenders"][name] = reply.get("info", {}) | (
                {"na": reply["na"]} if "na" in reply else {}
            )
            if "na" not in reply:
                active.append(name)
        calls = BATCH_CALLS[case["scenario"]]
        samples: dict[str, list[float]] = {name: [] for name in active}
        garbage: dict[str, list[float]] = {name: [] for name in active}
        print(
            f"{label(case)}: {settings.rounds} rounds x {len(active)} contenders x {calls} calls", flush=True
        )
        for r in range(settings.warmup + settings.rounds):
            k = r % len(active)
            for name in active[k:] + active[:k]:
                reply = workers[name].ask("batch", calls=calls)
                if "error" in reply:
                    raise RuntimeError(f"{name} {label(case)}: {reply['error']}")
                if r >= settings.warmup:
                    samples[name].append(reply["us"])
                    garbage[name].append(reply["gc"])
        for name in active:
            entry = record["contenders"][name]
            entry["us"] = summary(samples[name])
            entry["gc_objects_per_call"] = statistics.median(garbage[name])
            if name != "bare" and "bare" in samples:
                deltas = [c - b for c, b in zip(samples[name], samples["bare"], strict=True)]
                entry["added_us"] = summary(deltas)
        record["calls_per_batch"] = calls
        results.append(record)
    return results


def callgrind_cases(scenarios: Sequence[str]) -> list[dict[str, Any]]:
    """The cases counted under callgrind: all, but the 500-chunk stream with content off only (a call
    costs about half a billion instructions, and the targets compare it content off)."""
    return [
        c for c in cases(scenarios) if c["scenario"] != "stream500" or (c["sampled"] and not c["capture"])
    ]


def instructions(
    names: Sequence[str],
    plan_cases: Sequence[dict[str, Any]],
    floors: dict[str, Any],
    python: Callable[[str], Path],
    jobs: int,
) -> dict[str, dict[str, float]]:
    """Instructions per call of each contender and case: one valgrind process per contender."""
    if not shutil.which("valgrind"):
        raise RuntimeError("valgrind is not installed (apt-get install valgrind)")
    plan = [
        {
            "key": key(c),
            "case": c,
            "floor": floors.get(key(c), []),
            "n": CALLGRIND_CALLS[c["scenario"]],
            "warmup": 0 if c["scenario"] == "stream500" else 1,  # its probe call warms it up
        }
        for c in plan_cases
    ]
    work = Path(tempfile.mkdtemp(prefix="llmtrace-callgrind-"))

    def run(name: str) -> dict[str, float]:
        plan_file = work / f"{name}.json"
        plan_file.write_text(json.dumps({"cases": plan}))
        out = work / name / "callgrind.out"
        out.parent.mkdir()
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
        command += ["--dump-instr=no"]
        command += ["--dump-line=no", f"--dump-before={_MARK}", str(python(name)), str(WORKER)]
        command += ["callgrind", name, str(plan_file)]
        started = time.perf_counter()
        done = subprocess.run(command, env=worker_env(), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"callgrind {name} failed:\n{done.stderr[-3000:]}")
        labels = json.loads(Path(f"{plan_file}.labels.json").read_text())
        parts = {
            labels[i - 1]: _total(out.with_name(f"callgrind.out.{i}")) for i in range(1, len(labels) + 1)
        }
        counts = {}
        for item in plan:
            n, k = item["n"], item["key"]
            if f"{k}|{n}" in parts:
                counts[k] = (parts[f"{k}|{2 * n}"] - parts[f"{k}|{n}"]) / n
        print(f"callgrind {name}: {len(counts)} cases in {time.perf_counter() - started:.0f} s", flush=True)
        return counts

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        found = dict(zip(names, pool.map(run, names), strict=True))
    shutil.rmtree(work, ignore_errors=True)
    return found


_MARK = "os_getppid*"  # see _contenders.MARK_FUNCTION


def _total(dump: Path) -> int:
    found = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(), re.MULTILINE)
    if not found:
        raise RuntimeError(f"no totals in {dump}")
    return int(found.group(1))


def machine(hellos: dict[str, dict[str, Any]]) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "packages": {name: hello["versions"] for name, hello in hellos.items()},
    }


def _describe() -> str:
    """The working tree's commit, marked -dirty when it has uncommitted changes."""
    git = ["git", "-C", str(_venvs.ROOT), "describe", "--always", "--dirty", "--exclude=*"]
    return subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip()


def analyse(report: dict[str, Any]) -> None:
    """Added cost over bare and its ratio to the floor's, per case and contender, by time and instructions."""
    counts = report.get("instructions", {})
    for record in report["results"]:
        k = key(record["case"])
        bare_instr = counts.get("bare", {}).get(k)
        floor_instr = counts.get("floor", {}).get(k)
        floor_us = record["contenders"].get("floor", {}).get("added_us", {}).get("median")
        for name, entry in record["contenders"].items():
            mine = counts.get(name, {}).get(k)
            if mine is not None:
                entry["instructions"] = mine
                if bare_instr is not None and name != "bare":
                    entry["added_instructions"] = mine - bare_instr
                    if floor_instr is not None and floor_instr > bare_instr:
                        entry["ratio_instructions"] = (mine - bare_instr) / (floor_instr - bare_instr)
            added = entry.get("added_us", {}).get("median")
            if added is not None and floor_us and floor_us > 0:
                entry["ratio_us"] = added / floor_us


def _by(report: dict[str, Any], scenario: str, capture: bool = False, sampled: bool = True) -> dict[str, Any]:
    for record in report["results"]:
        c = record["case"]
        if (c["scenario"], c["capture"], c["sampled"]) == (scenario, capture, sampled):
            return record["contenders"]  # type: ignore[no-any-return]
    return {}


def chunk_cost(report: dict[str, Any], capture: bool) -> dict[str, float]:
    """llmtrace's added cost per chunk: the slope of its added cost between 50 and 500 chunks, in
    instructions, in ns estimated from them (at bare's ns per instruction in this run), and in wall time."""
    small, large = (
        _by(report, "stream", capture).get("llmtrace"),
        _by(report, "stream500", capture).get("llmtrace"),
    )
    if not small or not large:
        return {}
    found = {}
    if "added_instructions" in small and "added_instructions" in large:
        found["instructions"] = (large["added_instructions"] - small["added_instructions"]) / 450
        bare = _by(report, "stream500").get("bare", {})
        if "us" in bare and bare.get("instructions"):  # its fastest batch: the least slowed by neighbours
            found["ns_from_instructions"] = (
                found["instructions"] * bare["us"]["min"] * 1000 / bare["instructions"]
            )
    if "added_us" in small and "added_us" in large:
        found["ns_wall_time"] = (large["added_us"]["median"] - small["added_us"]["median"]) / 450 * 1000
    return found


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Where each target of issue 7 stands, judged on instructions (wall time beside it)."""
    rows: list[dict[str, Any]] = []

    def add(target: str, value: float | None, limit: float, detail: str, lower: bool = True) -> None:
        met = None if value is None else (value <= limit if lower else value >= limit)
        rows.append({"target": target, "value": value, "limit": limit, "met": met, "detail": detail})

    metric = "added_instructions"
    for scenario in NON_STREAMING:
        for capture in (False, True):
            c = _by(report, scenario, capture)
            peers = {n: c[n][metric] for n in PEER_NAMES if n in c and c[n].get(metric)}
            for name in OURS:
                ours = c.get(name, {}).get(metric)
                what = f"{name}, {scenario}, content {'on' if capture else 'off'}"
                if name == NO_METRICS:  # the floor records no metrics either
                    add(f"{what}: added vs floor <= 1.3x", c.get(name, {}).get("ratio_instructions"), 1.3, "")
                if ours is not None and peers:
                    best = min(peers, key=peers.__getitem__)
                    add(f"{what}: added vs best peer ({best}) <= 1x", ours / peers[best], 1.0, "")
                for peer in ("openllmetry", "openinference"):
                    if ours is not None and peer in peers:
                        add(f"{what}: added vs {peer} <= 1/3", ours / peers[peer], 1 / 3, "")
    for capture in (False, True):
        large = _by(report, "stream500", capture)
        what = f"content {'on' if capture else 'off'}"
        chunk = chunk_cost(report, capture)
        if chunk:
            detail = ", ".join(f"{k.replace('_', ' ')} {v:,.0f}" for k, v in chunk.items())
            # one process per contender: the SDK's own count moves ~2M at 500 chunks between processes
            detail += "; a slope across processes, ±4k instructions: footprint.md has the in-process count"
            value = chunk.get("ns_from_instructions")  # the wall-time slope is too noisy to judge on
            add(
                f"stream, {what}: added per chunk < 1 µs",
                None if value is None else value / 1000,
                1.0,
                detail,
            )
        ours = large.get("llmtrace", {}).get(metric)
        peers = {n: large[n][metric] for n in PEER_NAMES if n in large and large[n].get(metric)}
        if ours is not None and peers:
            best = min(peers, key=peers.__getitem__)
            add(f"stream500, {what}: added vs best peer ({best}) <= 0.5x", ours / peers[best], 0.5, "")
    for name in OURS:
        for scenario in SCENARIOS:
            on, off = _by(report, scenario), _by(report, scenario, sampled=False)
            sampled, unsampled = on.get(name, {}).get(metric), off.get(name, {}).get(metric)
            if sampled and unsampled is not None:
                add(f"{name}, {scenario}: unsampled added < 10% of sampled", unsampled / sampled, 0.1, "")
    return rows


def _cell(entry: dict[str, Any], value: str, ratio: str, scale: float, unit: str) -> str:
    if "na" in entry:
        return "n/a"
    if value not in entry:
        return "-"
    text = f"{entry[value] / scale:,.1f}{unit}"
    return text + (f" ({entry[ratio]:.2f}x)" if ratio in entry else "")


def _attributes(name: str, off: dict[str, Any], on: dict[str, Any]) -> str:
    return " / ".join(str(c.get(name, {}).get("attributes_per_call", "?")) for c in (off, on))


def markdown(report: dict[str, Any]) -> str:
    names = report["config"]["contenders"]
    others = [n for n in names if n != "bare"]
    head = "| case | " + " | ".join(names) + " |\n|---|" + "---|" * len(names)
    out = [
        "### Instructions per call (callgrind): bare, then added over bare (x the floor's added)",
        "",
        head,
    ]
    for record in report["results"]:
        c = record["contenders"]
        bare = _cell(c.get("bare", {}), "instructions", "-", 1000, "k")
        cells = [_cell(c.get(n, {}), "added_instructions", "ratio_instructions", 1000, "k") for n in others]
        out.append(f"| {record['label']} | {bare} | " + " | ".join(cells) + " |")
    out += [
        "",
        "### Wall time per call: bare median µs, then median added µs over bare (x the floor's)",
        "",
        head,
    ]
    for record in report["results"]:
        c = record["contenders"]
        bare = f"{c['bare']['us']['median']:,.1f}" if "us" in c.get("bare", {}) else ""
        cells = []
        for n in others:
            entry = c.get(n, {})
            if "added_us" in entry:
                entry = {**entry, "added": entry["added_us"]["median"]}
            cells.append(_cell(entry, "added", "ratio_us", 1, ""))
        out.append(f"| {record['label']} | {bare} | " + " | ".join(cells) + " |")
    out += ["", "### What each contender emitted per call (sampled; content off / on)", ""]
    out += [
        "| contender | agent step traced by | spans (agent) | attributes: chat | attributes: stream "
        "| prompt on span (chat, content on) | metric instruments (chat) |",
        "|---|---|---|---|---|---|---|",
    ]
    agent, chat_off, chat_on = _by(report, "agent"), _by(report, "chat"), _by(report, "chat", True)
    stream_off, stream_on = _by(report, "stream"), _by(report, "stream", True)
    for n in others:
        cells = [
            report["agent_tracing"].get(n, ""),
            str(agent.get(n, {}).get("spans_per_call", "n/a")),
            _attributes(n, chat_off, chat_on),
            _attributes(n, stream_off, stream_on),
            str(chat_on.get(n, {}).get("content_on_span", "")),
            str(len(chat_off.get(n, {}).get("metrics", []))),
        ]
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    if report.get("targets"):
        out += [
            "",
            "### Targets (issue 7), judged on instructions",
            "",
            "| target | value | met |",
            "|---|---|---|",
        ]
        for t in report["targets"]:
            value = "" if t["value"] is None else f"{t['value']:.2f}"
            met = {True: "yes", False: "**no**", None: "?"}[t["met"]]
            detail = f" ({t['detail']})" if t["detail"] else ""
            out.append(f"| {t['target']}{detail} | {value} | {met} |")
    return "\n".join(out)


def write(report: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "peers.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    m, cfg = report["machine"], report["config"]
    versions = m["packages"].get("llmtrace", next(iter(m["packages"].values()), {}))
    peers = {
        name: ", ".join(f"{k} {v}" for k, v in pkgs.items() if k not in versions or versions[k] != v)
        for name, pkgs in m["packages"].items()
    }
    notes = [
        f"# llmtrace vs peers ({report['date']})",
        "",
        f"Command: `{report['command']}` ({report['seconds']:.0f} s). llmtrace at {m['llmtrace_commit']}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, {m['python']}, load average at start "
        f"{m['load_average']}.",
        "",
        "Shared versions (every contender's environment): "
        + ", ".join(
            f"{k} {versions[k]}"
            for k in ("openai", "anthropic", "opentelemetry-sdk", "httpx2", "pydantic", "wrapt")
            if k in versions
        )
        + ".",
        "Per environment, beyond those: "
        + "; ".join(f"{name}: {text or '-'}" for name, text in peers.items())
        + ".",
        "",
        f"Wall time: {cfg['rounds']} rounds after {cfg['warmup']} warm-up rounds, one batch per contender "
        "per round in rotated order (calls per batch: "
        + ", ".join(f"{k} {v}" for k, v in BATCH_CALLS.items())
        + "). Instructions: one callgrind process per "
        "contender; per case N then 2N calls (N: "
        + ", ".join(f"{k} {v}" for k, v in CALLGRIND_CALLS.items())
        + "), (count(2N) - count(N)) / N. *added* = contender - bare; (x) = added / the floor's added. "
        "See benchmarks/README.md.",
        "",
        "Noise: the SDK's own instruction count of a streamed call differs by about 0.5% between processes "
        "(~0.2M at 50 chunks, ~2M at 500), more than a span costs; the stream rows' ratios to the floor and "
        "the per-chunk slopes carry that noise (see benchmarks/README.md).",
        "",
        markdown(report),
        "",
    ]
    (RESULTS / "peers.md").write_text("\n".join(notes), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds, no callgrind (smoke test)")
    parser.add_argument("--rounds", type=int, help="measured rounds per case (default 20; 3 with --quick)")
    parser.add_argument("--warmup", type=int, help="unmeasured rounds first (default 2; 1 with --quick)")
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run only this scenario")
    parser.add_argument("--contenders", help=f"comma-separated subset of {','.join(CONTENDERS)}")
    parser.add_argument("--envs", type=Path, default=_venvs.DEFAULT_DIR, help="where the environments live")
    parser.add_argument("--no-callgrind", action="store_true", help="wall time only")
    parser.add_argument("--callgrind-only", action="store_true", help="instructions only")
    parser.add_argument("--jobs", type=int, default=2, help="callgrind processes at once (default 2)")
    parser.add_argument(
        "--llmtrace",
        default="HEAD",
        metavar="REV",
        help="measure llmtrace as committed at REV (default HEAD), or 'worktree' for the working tree",
    )
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/")
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="re-analyse a results file, rewrite peers.md"
    )
    args = parser.parse_args(argv)
    if args.render:
        report = json.loads(args.render.read_text())
        analyse(report)
        report["targets"] = targets(report)
        print(markdown(report))
        if not args.no_write:
            write(report)
        return
    names = tuple(args.contenders.split(",")) if args.contenders else CONTENDERS
    unknown = set(names) - set(CONTENDERS)
    if unknown or "bare" not in names:
        parser.error(f"--contenders: 'bare' is required; unknown: {sorted(unknown)}")
    settings = Settings(
        rounds=args.rounds or (3 if args.quick else 20),
        warmup=args.warmup if args.warmup is not None else (1 if args.quick else 2),
        scenarios=tuple(args.only or SCENARIOS),
        contenders=names,
    )
    started = time.perf_counter()
    log_dir = Path(tempfile.mkdtemp(prefix="llmtrace-peers-"))
    for name in names:
        _venvs.ensure(name, args.envs, log_dir / f"install-{name}.log")
    commit = _describe()
    if "llmtrace" in names:
        if args.llmtrace == "worktree":
            source = _venvs.ROOT
        else:
            source, commit = _venvs.snapshot(args.llmtrace)
        _venvs.install_llmtrace(_venvs.python("llmtrace", args.envs), source, editable=source == _venvs.ROOT)
        if source != _venvs.ROOT:
            shutil.rmtree(source, ignore_errors=True)
    workers: dict[str, Worker] = {}
    logs = {name: open(log_dir / f"{name}.log", "w") for name in names}  # noqa: SIM115
    try:
        for name in names:
            workers[name] = Worker(name, _venvs.python(name, args.envs), logs[name])
        report: dict[str, Any] = {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": shlex.join(["python", "benchmarks/peers.py", *(argv or sys.argv[1:])]),
            "machine": machine({n: w.hello for n, w in workers.items()}) | {"llmtrace_commit": commit},
            "config": {"rounds": settings.rounds, "warmup": settings.warmup, "contenders": list(names)},
            "agent_tracing": {n: w.hello["agent_tracing"] for n, w in workers.items()},
            "results": [
                {"case": c, "label": label(c), "contenders": {n: {} for n in names}}
                for c in cases(settings.scenarios)
            ],
        }
        floors = {}
        if "llmtrace" in workers:
            for c in cases(settings.scenarios):
                floors[key(c)] = workers["llmtrace"].ask("calibrate", case=c)["floor"]
        # Instructions first (what the targets are judged on), written as soon as counted.
        if not (args.quick or args.no_callgrind):
            report["instructions"] = instructions(
                names,
                callgrind_cases(settings.scenarios),
                floors,
                lambda name: _venvs.python(name, args.envs),
                args.jobs,
            )
            _finish(report, started, args.no_write)
        if not args.callgrind_only:
            report["results"] = wall_time(workers, settings)
            _finish(report, started, args.no_write)
    finally:
        for worker in workers.values():
            worker.close()
        for log in logs.values():
            log.close()
    print(f"Worker logs in {log_dir}.")


def _finish(report: dict[str, Any], started: float, no_write: bool) -> None:
    analyse(report)
    report["targets"] = targets(report)
    report["seconds"] = time.perf_counter() - started
    print("\n" + markdown(report))
    print(f"\nAfter {report['seconds']:.0f} s.", flush=True)
    if not no_write:
        write(report)
        print(f"Wrote {RESULTS / 'peers.json'} and {RESULTS / 'peers.md'}")


if __name__ == "__main__":
    main()
