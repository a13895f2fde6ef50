"""Send llmtrace's spans to Arize Phoenix: only the standard OpenTelemetry variables, no Phoenix code.

Start Phoenix (UI and OTLP/HTTP on port 6006), run this, then open http://localhost:6006 and pick the
project ``llmtrace-examples``:

    pip install arize-phoenix && phoenix serve
    python examples/export_to_phoenix.py

The variables below are defaults; anything already set in the environment wins, so the same script can
point at a remote Phoenix (plus ``OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<key>`` if it needs
one). The recipe, and those for other backends, is in docs/backends.md. The workload is the demo's
support agent (examples/demo.py) against the local stand-in model.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import llmtrace

sys.path.insert(0, str(Path(__file__).parent))
from demo import answer
from standin import serve

PHOENIX = {
    # Phoenix takes OTLP over HTTP (protobuf) at <endpoint>/v1/traces.
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:6006",
    "OTEL_SERVICE_NAME": "llmtrace-phoenix-example",
    # Phoenix files traces under the project named by this resource attribute.
    "OTEL_RESOURCE_ATTRIBUTES": "openinference.project.name=llmtrace-examples",
    # Phoenix stores traces, not metrics: do not send them.
    "LLMTRACE_METRICS_EXPORTER": "none",
}


def main() -> None:
    for name, value in PHOENIX.items():
        os.environ.setdefault(name, value)
    handle = llmtrace.instrument()  # exporter="otlp" is the default
    print(f"Exporting to {os.environ['OTEL_EXPORTER_OTLP_ENDPOINT']}/v1/traces", file=sys.stderr)

    import openai

    with serve() as standin:
        client = openai.OpenAI(base_url=standin.base_url, api_key="not-needed")
        question = "Will the weather in Paris delay my delivery?"
        print(f"Q: {question}\nA: ", end="", flush=True)
        with llmtrace.attributes(tenant_id="acme", user_id="user-42"):
            answer(client, question)
    handle.force_flush()


if __name__ == "__main__":
    main()
