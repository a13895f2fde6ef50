"""An unmodified program for the CLI tests: one chat call through the real openai client, its HTTP
replayed from a cassette; prints what it saw of its own launch as JSON.

    python chat_app.py [ARGS...]         or         python -m chat_app [ARGS...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from replay import openai_client

CASSETTE = (
    Path(__file__).resolve().parent.parent
    / "cassettes/openai/chat_nonstream_gpt-3.5_sdk1.12-and-1.99_gzip.yaml"
)


def main() -> None:
    client, transport = openai_client(CASSETTE, interactions=[0])
    client.chat.completions.create(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Hello"}])
    transport.assert_all_played()
    print(json.dumps({"argv": sys.argv, "name": __name__, "path0": sys.path[0]}))


if __name__ == "__main__":
    main()
    if "--exit-3" in sys.argv:
        sys.exit(3)
