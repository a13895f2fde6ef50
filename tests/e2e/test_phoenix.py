"""llmtrace against a real OTLP backend: Arize Phoenix on 127.0.0.1, spans read back through its REST API.

The application (tests/e2e/workload.py) is a separate process that uses llmtrace's default OTLP/HTTP
pipeline, pointed at Phoenix by OTEL_EXPORTER_OTLP_ENDPOINT only. Each test writes to its own Phoenix
project (the ``openinference.project.name`` resource attribute), so the tests share one server.

The first test runs before Phoenix's server is up: it also covers "backend started after the app" and
"backend restarted mid-run".
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from backend import FIGURES, Phoenix
from workload import SPANS_PER_TICKET, Workload

from llmtrace.pricing import default_prices

BACKENDS_DOC = Path(__file__).resolve().parents[2] / "docs" / "backends.md"


def app_env(phoenix: Phoenix, project: str, **extra: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix.url,
        "OTEL_SERVICE_NAME": "llmtrace-e2e",
        "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={project}",
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within 0.2 s instead of 5 s: shorter waits
        **extra,
    }


def documented_recipe(section: str) -> dict[str, str]:
    """The ``export`` lines of the first shell block under ``## <section>`` in docs/backends.md."""
    body = BACKENDS_DOC.read_text().split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    block = body.split("```bash\n", 1)[1].split("```", 1)[0]
    pairs = [line.removeprefix("export ").split("=", 1) for line in block.splitlines()]
    return {key: value for key, value in pairs if key.startswith(("OTEL_", "LLMTRACE_"))}


def value(any_value: dict[str, Any]) -> Any:
    """A plain value from Phoenix's OTLP-shaped JSON (the one field that is set)."""
    for kind, v in any_value.items():
        if v is not None:
            return [value(x) for x in v["values"]] if kind == "array_value" else v
    return None


def attributes(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: value(a["value"]) for a in span["attributes"]}


def call_ms(tickets: list[dict[str, Any]]) -> list[float]:
    return [ms for t in tickets for ms in t["ms"]]


def summary(tickets: list[dict[str, Any]]) -> str:
    """Median duration of each call of a ticket (chat, streamed chat, embeddings), and the slowest."""
    medians = [statistics.median(t["ms"][i] for t in tickets) for i in range(3)]
    return " / ".join(f"{m:.1f}" for m in medians) + f" ms, max {max(call_ms(tickets)):.1f} ms"


def test_backend_started_after_the_app_then_restarted_mid_run(phoenix: Phoenix) -> None:
    assert not phoenix.running
    app = Workload(app_env(phoenix, "lifecycle"))
    try:
        down = [app.ticket() for _ in range(3)]  # nothing listens yet
        # Phoenix starts while the application keeps working.
        starter = threading.Thread(target=phoenix.start)
        starter.start()
        booting = []
        while starter.is_alive():
            booting.append(app.ticket())
            time.sleep(0.25)
        starter.join()
        up = [app.ticket() for _ in range(3)]
        assert app.flush(30_000)["ok"]
        before_restart = len(app.tickets) * SPANS_PER_TICKET
        assert len(phoenix.wait_for_spans("lifecycle", before_restart)) == before_restart

        phoenix.stop()
        during = [app.ticket() for _ in range(3)]  # the backend is down again
        phoenix.start()
        after = [app.ticket() for _ in range(2)]
        assert app.flush(30_000)["ok"]
        final = app.quit()
    finally:
        app.kill()

    spans = phoenix.wait_for_spans("lifecycle", len(app.tickets) * SPANS_PER_TICKET)
    # Every span of every ticket arrived exactly once, those from before Phoenix was up or while it
    # restarted included (and those stored before the restart are still there).
    assert Counter(s["trace_id"] for s in spans) == {t["trace_id"]: SPANS_PER_TICKET for t in app.tickets}
    assert len({s["span_id"] for s in spans}) == len(spans)
    assert final["dropped"] == {}
    assert final["warnings"] == []

    backend_down = down + booting + during
    # The calls never wait for the exporter: a blocked export would cost seconds (its retries back off
    # 1 s, 2 s, 4 s), far more than any call to the local stand-in model.
    assert max(call_ms(backend_down)) < 1000
    FIGURES["chat / streamed chat / embeddings, Phoenix down (not started, booting, restarting)"] = summary(
        backend_down
    )
    FIGURES["chat / streamed chat / embeddings, Phoenix up"] = summary(up + after)
    FIGURES["tickets before Phoenix was up / while restarting"] = f"{len(down + booting)} / {len(during)}"


@pytest.fixture
def running(phoenix: Phoenix) -> Phoenix:
    if not phoenix.running:
        phoenix.start()
    return phoenix


def test_workload_spans_read_back_from_phoenix(running: Phoenix) -> None:
    # The documented Phoenix recipe, as is but for the port.
    recipe = documented_recipe("Arize Phoenix")
    assert recipe.pop("OTEL_EXPORTER_OTLP_ENDPOINT") == "http://localhost:6006"
    app = Workload({**recipe, "OTEL_EXPORTER_OTLP_ENDPOINT": running.url})
    try:
        [ticket] = [app.ticket()]
        final = app.quit()  # shutdown exports what is left
    finally:
        app.kill()
    assert final["dropped"] == {}
    spans = running.wait_for_spans("my-project", SPANS_PER_TICKET)
    assert len(spans) == SPANS_PER_TICKET
    spans.sort(key=lambda s: s["start_time_unix_nano"])
    by_id = {s["span_id"]: s for s in spans}

    def parent(span: dict[str, Any]) -> str | None:
        return by_id[span["parent_span_id"]]["name"] if span["parent_span_id"] else None

    assert [(s["name"], parent(s)) for s in spans] == [
        ("invoke_workflow support-ticket", None),
        ("invoke_agent support-agent", "invoke_workflow support-ticket"),
        ("retrieval help-center", "invoke_agent support-agent"),
        ("chat gpt-4o-mini", "invoke_agent support-agent"),
        ("execute_tool get_weather", "invoke_agent support-agent"),
        ("chat gpt-4o-mini", "invoke_agent support-agent"),
        ("embeddings text-embedding-3-small", "invoke_workflow support-ticket"),
    ]
    assert {s["trace_id"] for s in spans} == {ticket["trace_id"]}
    assert all(s["status"]["code"] != 2 for s in spans)  # none is an error
    workflow, agent, retrieval, chat, tool, streamed, embeddings = map(attributes, spans)

    assert workflow["gen_ai.operation.name"] == "invoke_workflow"
    assert workflow["gen_ai.workflow.name"] == "support-ticket"
    assert agent["gen_ai.operation.name"] == "invoke_agent"
    assert agent["gen_ai.agent.name"] == "support-agent"
    assert retrieval["gen_ai.operation.name"] == "retrieval"
    assert retrieval["gen_ai.data_source.id"] == "help-center"
    assert retrieval["llmtrace.retrieval.documents.count"] == 2
    assert tool["gen_ai.operation.name"] == "execute_tool"
    assert tool["gen_ai.tool.name"] == "get_weather"
    assert tool["gen_ai.tool.type"] == "function"

    price = default_prices()
    for attrs, (tokens_in, tokens_out), model in zip(
        (chat, streamed, embeddings),
        ticket["usage"],
        ("gpt-4o-mini", "gpt-4o-mini", "text-embedding-3-small"),
        strict=True,
    ):
        assert attrs["gen_ai.provider.name"] == "openai"
        assert attrs["gen_ai.request.model"] == attrs["gen_ai.response.model"] == model
        assert attrs["server.address"] == "127.0.0.1"
        # Tokens as the provider reported them, and the cost the shipped prices give for them.
        assert attrs["gen_ai.usage.input_tokens"] == tokens_in > 0
        assert attrs.get("gen_ai.usage.output_tokens", 0) == tokens_out
        expected = (tokens_in * price[model].input + tokens_out * price[model].output) / 1e6
        assert attrs["gen_ai.usage.cost.amount"] == pytest.approx(expected)
        assert attrs["gen_ai.usage.cost.currency"] == "USD"
        # Phoenix understood the GenAI attributes: its own token counts come from ours.
        assert attrs["llm.token_count.prompt"] == tokens_in
    assert chat["gen_ai.operation.name"] == streamed["gen_ai.operation.name"] == "chat"
    assert embeddings["gen_ai.operation.name"] == "embeddings"
    assert chat["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert streamed["gen_ai.response.finish_reasons"] == ["stop"]
    assert streamed["gen_ai.request.stream"] is True
    assert streamed["gen_ai.response.time_to_first_chunk"] > 0
    assert chat["openinference.span.kind"] == streamed["openinference.span.kind"] == "LLM"

    for attrs in (workflow, agent, retrieval, chat, tool, streamed, embeddings):
        assert attrs["llmtrace.tenant.id"] == "acme"  # context attributes reach every span
        assert attrs["user.id"] == "user-42"
        # Content capture is off by default: no prompt, completion, tool argument or result reached Phoenix.
        text = " ".join(str(v) for v in attrs.values())
        assert not [t for t in ("Will the weather", "Stand-in reply", "light rain", "Paris") if t in text]
