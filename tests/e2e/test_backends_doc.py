"""docs/backends.md stays usable: its YAML parses, the Collector configuration is complete, every recipe
sets an endpoint over HTTP, and every llmtrace variable it names exists. (The Phoenix recipe itself is
run against a real Phoenix by test_phoenix.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from llmtrace.config import Settings

TEXT = (Path(__file__).resolve().parents[2] / "docs" / "backends.md").read_text()


def blocks(language: str, text: str = TEXT) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def sections() -> dict[str, str]:
    parts = re.split(r"^## (.+)$", TEXT, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_yaml_blocks_parse_and_the_collector_configuration_is_complete():
    configs = [yaml.safe_load(block) for block in blocks("yaml")]
    [collector] = [c for c in configs if "service" in c]
    for pipeline in collector["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(kind, [])) <= set(collector[kind]), (kind, pipeline)
    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")


def test_every_recipe_sets_an_http_endpoint():
    recipes = {
        "Arize Phoenix", "Langfuse", "Jaeger", "Grafana Tempo", "An OpenTelemetry Collector", "Datadog",
        "Honeycomb",
    }  # fmt: skip
    found = sections()
    assert recipes <= set(found)
    for name in recipes:
        shell = "".join(blocks("bash", found[name]))
        endpoints = re.findall(r"export OTEL_EXPORTER_OTLP_(?:TRACES_)?ENDPOINT=(\S+)", shell)
        assert endpoints, name
        assert all(e.startswith(("http://", "https://")) and ":4317" not in e for e in endpoints), name


def test_llmtrace_variables_named_exist():
    named = set(re.findall(r"LLMTRACE_[A-Z_]+", TEXT))
    assert named
    assert named <= {f"LLMTRACE_{field.upper()}" for field in Settings.model_fields}
