"""A FastAPI service whose model calls carry the tenant and user of the request that made them.

An ASGI middleware opens ``llmtrace.attributes(tenant_id=..., user_id=...)`` around each request, so every
span the request makes (llmtrace's and other libraries') carries ``llmtrace.tenant.id`` and ``user.id``,
and the token and cost metrics are broken down by tenant. Concurrent requests never mix their tenants:
the attributes live in the request's own context.

    python examples/fastapi_service.py           # sends requests for two tenants in-process, prints traces
    python examples/fastapi_service.py --serve   # serves on 127.0.0.1:8000 (needs uvicorn), then:
    curl -H 'x-tenant-id: acme' -H 'content-type: application/json' -d '{"question": "Hi"}' \\
        http://127.0.0.1:8000/answer

The model is the local stand-in (examples/standin.py) unless OPENAI_BASE_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

import llmtrace

sys.path.insert(0, str(Path(__file__).parent))
from standin import serve

MODEL = "gpt-4o-mini"
PLANS = {"acme": "enterprise", "globex": "starter"}


class TenantAttributes:
    """ASGI middleware: the request's tenant and user on every span it makes.

    Here they come from headers a gateway would set after authentication; take them from wherever your
    service knows them (a verified token, a session).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        tenant = headers.get("x-tenant-id", "unknown")
        with llmtrace.attributes(
            tenant_id=tenant,
            user_id=headers.get("x-user-id"),  # None: not set
            feature=scope["path"].strip("/"),
            plan=PLANS.get(tenant, "free"),  # any other keyword: llmtrace.context.plan
        ):
            await self.app(scope, receive, send)


class Question(BaseModel):
    question: str


app = FastAPI(title="support-api")
# Inside the app, not wrapped around it: a framework that starts the request span from the incoming
# headers (FastAPI's own telemetry, OpenTelemetry's ASGI instrumentation) begins a fresh context, which
# would drop attributes set outside it.
app.add_middleware(TenantAttributes)


@functools.cache
def openai_client() -> Any:
    import openai

    return openai.AsyncOpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY from the environment


@app.post("/answer")
async def answer(body: Question) -> dict[str, Any]:
    completion = await openai_client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": body.question}]
    )
    return {"answer": completion.choices[0].message.content, "tokens": completion.usage.total_tokens}


REQUESTS = [
    ("acme", "u-1", "How do I reset my password?"),
    ("globex", "u-7", "Where is my invoice?"),
    ("acme", "u-2", "Can I add a second admin?"),
]


async def send_requests() -> None:
    """Three concurrent requests from two tenants, through the ASGI app in-process (no socket)."""
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://support-api") as http:
        replies = await asyncio.gather(
            *(
                http.post("/answer", json={"question": q}, headers={"x-tenant-id": t, "x-user-id": u})
                for t, u, q in REQUESTS
            )
        )
    for (tenant, user, _), reply in zip(REQUESTS, replies, strict=True):
        reply.raise_for_status()
        print(f"{tenant}/{user}: {reply.json()['tokens']} tokens: {reply.json()['answer']}")


@contextlib.contextmanager
def model_endpoint() -> Iterator[None]:
    """The stand-in model, unless OPENAI_BASE_URL points somewhere else."""
    if os.environ.get("OPENAI_BASE_URL"):
        yield
        return
    with serve() as standin:
        os.environ["OPENAI_BASE_URL"] = standin.base_url
        os.environ.setdefault("OPENAI_API_KEY", "not-needed")
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="serve on 127.0.0.1:8000 with uvicorn")
    args = parser.parse_args()
    exporter = "otlp" if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else "console"
    handle = llmtrace.instrument(exporter=exporter, service_name="support-api")
    with model_endpoint():
        if args.serve:
            import uvicorn

            uvicorn.run(app, host="127.0.0.1", port=8000)
        else:
            asyncio.run(send_requests())
    handle.force_flush()


if __name__ == "__main__":
    main()
