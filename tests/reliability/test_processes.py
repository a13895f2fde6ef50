"""Processes: a short-lived script, a forked child (gunicorn/uWSGI pre-fork) and multiprocessing workers
(fork start method) export every span they made to an OTLP endpoint, a local sink started by the test.

Each run is a new interpreter with llmtrace's default pipeline (OTLP/HTTP through a BatchSpanProcessor),
calling the real openai client over an in-process transport; every call is tagged with the process that
made it (``llmtrace.attributes(feature=...)``), so the sink's spans can be counted per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from figures import FIGURES

from otlp_sink import running

TESTS = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import json, multiprocessing, os, sys
import httpx, openai, llmtrace

BODY = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}
USAGE = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}


def answer(request):
    # every other call without usage: its span waits for llmtrace's token count before it ends
    with_usage = json.loads(request.content)["messages"][0]["content"].endswith("0")
    return httpx.Response(200, json={**BODY, **({"usage": USAGE} if with_usage else {})})


def calls(who, n):
    client = openai.OpenAI(api_key="test", base_url="https://api.openai.com/v1", max_retries=0,
                           http_client=httpx.Client(transport=httpx.MockTransport(answer)))
    with llmtrace.attributes(feature=who):
        for i in range(n):
            messages = [{"role": "user", "content": f"q{i % 2}"}]
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)


def worker(i):
    calls(f"pool-{i}", 5)
    return os.getpid()


llmtrace.instrument(providers=["openai"])
mode = sys.argv[1]
calls("parent", 5)
if mode == "fork":
    children = []
    for k in range(2):
        pid = os.fork()
        if pid == 0:
            calls(f"child-{k}", 20)
            sys.exit(0)  # as a pre-fork server's worker leaves: a normal interpreter exit
        children.append(pid)
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0
elif mode == "multiprocessing":
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pids = pool.map(worker, range(4))
        pool.close()
        pool.join()
    assert len(set(pids)) >= 1
elif mode == "short":
    calls("short", 200)
# no flush, no shutdown: the interpreter exits right away
"""


def run(mode: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRACE_", "OTEL_"))}
    env.update(
        PYTHONPATH=str(TESTS),
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_BSP_SCHEDULE_DELAY="60000",  # nothing exported on a timer: only the flushes count
        LLMTRACE_METRICS_EXPORTER="none",
    )
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


EXPECTED = {
    "short": {"parent": 5, "short": 200},
    "fork": {"parent": 5, "child-0": 20, "child-1": 20},
    "multiprocessing": {"parent": 5, **{f"pool-{i}": 5 for i in range(4)}},
}


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_every_span_of_every_process_reaches_the_endpoint(mode):
    with running() as sink:
        done = run(mode, sink.endpoint)
        assert done.returncode == 0, done.stderr
        features = Counter()
        for span in sink.spans():
            attributes = {a.key: a.value.string_value for a in span.attributes}
            features[attributes.get("llmtrace.feature")] += 1
    assert dict(features) == EXPECTED[mode]
    FIGURES[f"process spans exported ({mode})"] = sum(features.values())
