"""`llmtrace run` / `python -m llmtrace run`: an unmodified program, traced, run as Python would run it."""

from __future__ import annotations

import json
import sys

from programs import APP, BIN, CLI, launch, program_output, stored_spans

from core.test_otlp_export import sink  # noqa: F401 (a fixture: an OTLP/HTTP sink on 127.0.0.1)
from llmtrace import _semconv as sc


def test_run_a_script_with_its_own_arguments_and_nothing_sent_over_the_network(tmp_path, sink):  # noqa: F811
    traces = tmp_path / "traces.jsonl"
    done = launch(
        BIN / "llmtrace", "run", APP, "--model", "x", "-m", "y",  # the program's arguments, untouched
        cwd=tmp_path,
        LLMTRACE_EXPORTER=f"file:{traces}",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink.server_port}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = program_output(done.stdout)
    assert seen == {"argv": [str(APP), "--model", "x", "-m", "y"], "name": "__main__", "path0": str(CLI)}
    [span] = stored_spans(traces)
    assert span["name"] == "chat gpt-3.5-turbo"
    assert span["attributes"][sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 19
    assert sc.GEN_AI_INPUT_MESSAGES not in span["attributes"]  # content stays off by default
    assert sink.received == []  # the file exporter adds no OTLP traces, metrics or logs


def test_run_a_module_with_content_capture(tmp_path):
    traces = tmp_path / "traces.jsonl"
    done = launch(
        sys.executable, "-m", "llmtrace", "run", "--capture-content", "--service-name", "bot",
        "-m", "chat_app", "--capture-content",
        cwd=CLI,
        LLMTRACE_EXPORTER=f"file:{traces}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = program_output(done.stdout)
    assert seen == {"argv": [str(APP), "--capture-content"], "name": "__main__", "path0": str(CLI)}
    [span] = stored_spans(traces)
    messages = json.loads(span["attributes"][sc.GEN_AI_INPUT_MESSAGES])
    assert messages[0]["parts"][0]["content"] == "Hello"
    resource = json.loads(traces.read_bytes().splitlines()[0])["resourceSpans"][0]["resource"]
    assert {"key": "service.name", "value": {"stringValue": "bot"}} in resource["attributes"]


def test_run_keeps_the_exit_status_and_still_flushes(tmp_path):
    traces = tmp_path / "traces.jsonl"
    done = launch(
        sys.executable, "-m", "llmtrace", "run", APP, "--exit-3", LLMTRACE_EXPORTER=f"file:{traces}"
    )
    assert done.returncode == 3, done.stderr
    assert len(stored_spans(traces)) == 1


def test_run_refuses_an_invalid_setting_before_starting_the_program(tmp_path):
    done = launch(sys.executable, "-m", "llmtrace", "run", "--exporter", "kafka", APP, cwd=tmp_path)
    assert done.returncode == 2
    assert "'exporter'" in done.stderr and '{"argv"' not in done.stdout
    done = launch(sys.executable, "-m", "llmtrace", "run", cwd=tmp_path)
    assert done.returncode == 2 and "a script or -m MODULE is required" in done.stderr
