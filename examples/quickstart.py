"""Quickstart: one line of setup, then the openai client as usual; every call becomes a span.

Runs against the local stand-in model (examples/standin.py): no API key, no internet.

    python examples/quickstart.py                                              # spans printed as a tree
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 python examples/quickstart.py   # sent over OTLP

With a real key, drop the stand-in and use ``openai.OpenAI()``: nothing else changes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import llmtrace

sys.path.insert(0, str(Path(__file__).parent))
from standin import serve


def main() -> None:
    # With OTEL_EXPORTER_OTLP_ENDPOINT set, spans go there; otherwise print them (the default is OTLP
    # to localhost:4318, which needs a collector running).
    exporter = "otlp" if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else "console"
    handle = llmtrace.instrument(exporter=exporter, service_name="llmtrace-quickstart")

    import openai

    with serve() as standin:
        client = openai.OpenAI(base_url=standin.base_url, api_key="not-needed")

        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello to OpenTelemetry."}]
        )
        print(reply.choices[0].message.content)

        # Streams are traced too; the span ends when the stream does.
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Count to three."}],
            stream=True,
            stream_options={"include_usage": True},
        )
        print("".join(c.choices[0].delta.content or "" for c in stream if c.choices))

        vectors = client.embeddings.create(model="text-embedding-3-small", input="tracing")
        print(f"embedding of {len(vectors.data[0].embedding)} dimensions")
    handle.force_flush()


if __name__ == "__main__":
    main()
