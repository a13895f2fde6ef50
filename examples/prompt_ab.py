"""Prompt A/B test with a cost report: two versions of one prompt, N calls each, then calls, tokens, cost
and latency per version, from ``llmtrace report``.

Each call's span carries ``gen_ai.prompt.name`` and ``gen_ai.prompt.version`` (the text of a
`llmtrace.Prompt` links the call to it). The file exporter appends the spans to a local OTLP/JSON file,
and ``llmtrace report FILE --by prompt`` groups them, with no backend. In a backend, the same report is
a query over those two attributes (the cost and token metrics carry them too).

    python examples/prompt_ab.py --calls 20
    llmtrace report <the file it names> --by prompt,model --format csv     # the file stays for more

Runs against the local stand-in model (examples/standin.py): no API key, no internet.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import llmtrace
from llmtrace.cli import main as llmtrace_command

sys.path.insert(0, str(Path(__file__).parent))
from standin import serve

MODEL = "gpt-4o-mini"
VERSIONS = [
    llmtrace.Prompt("ticket-summary", "Summarize this support ticket:\n{ticket}", version="A"),
    llmtrace.Prompt(
        "ticket-summary",
        "You are a senior support engineer. Summarize the ticket below for the on-call team in two"
        " sentences: the customer's problem first, then what they already tried.\n\nTicket:\n{ticket}",
        version="B",
    ),
]
TICKETS = [
    "My invoice shows the wrong VAT number since the last update.",
    "The export to CSV times out for reports longer than a year.",
    "I was charged twice for the March subscription.",
    "Password reset emails never arrive at our company domain.",
]


def run(client: Any, calls: int) -> None:
    for i in range(calls):
        for prompt in VERSIONS:  # interleaved, so both versions see the same conditions
            text = prompt.format(ticket=TICKETS[i % len(TICKETS)])
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10, help="calls per prompt version")
    parser.add_argument("--traces", type=Path, help="the trace file (default: a new temporary one)")
    args = parser.parse_args()
    traces = args.traces or Path(tempfile.mkdtemp(prefix="llmtrace-ab-")) / "traces.jsonl"

    handle = llmtrace.instrument(exporter=f"file:{traces}")

    import openai

    with serve() as standin:
        run(openai.OpenAI(base_url=standin.base_url, api_key="not-needed"), args.calls)
    handle.force_flush()

    print(f"$ llmtrace report {traces} --by prompt", flush=True)
    sys.exit(llmtrace_command(["report", str(traces), "--by", "prompt"]))


if __name__ == "__main__":
    main()
