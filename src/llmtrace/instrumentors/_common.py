"""Shape helpers shared by the instrumentors of SDKs generated from the same toolchain (Stainless):
argument sentinels, models as dicts, and the server behind a client. Pure functions, no telemetry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Server = tuple[str, "str | None", "int | None"]
"""(gen_ai.provider.name, server.address, server.port)"""

_servers: dict[str, Server] = {}


def given(kwargs: Mapping[str, Any], key: str) -> Any:
    """The request's value for `key`: from ``extra_body`` (sent over the keyword arguments) or the
    keyword argument, treating the SDK's NOT_GIVEN / omit sentinels as absent."""
    extra = kwargs.get("extra_body")
    # extra_body is almost always absent: skip the (slow) Mapping ABC check then
    if extra is not None and isinstance(extra, Mapping) and key in extra:
        value = extra.get(key)
    else:
        value = kwargs.get(key)
    if value is None or type(value).__name__ in ("NotGiven", "Omit"):
        return None
    return value


def as_dict(obj: Any) -> dict[str, Any]:
    """A param (TypedDict) or an SDK model as a plain dict; anything else as ``{"content": str(obj)}``."""
    if isinstance(obj, Mapping):
        return dict(obj)
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        # warnings=False: the SDKs' generic Parsed* models make pydantic warn about their `parsed`
        # field on every dump, which would surface in the user's code.
        try:
            result: dict[str, Any] = dump(exclude_none=True, warnings=False)
        except TypeError:  # a model_dump without the pydantic v2 signature
            result = dump(exclude_none=True)
        return result
    return {"content": str(obj)}


def server(instance: Any, provider_of: Callable[[str, str | None, int | None], str]) -> Server:
    """The provider and address of the client behind a resource (cached per client class and URL).

    `provider_of(client class name, host, port)` names the provider.
    """
    client = getattr(instance, "_client", None)
    base = getattr(client, "base_url", None)
    name = type(client).__name__
    key = f"{name}|{base}"
    cached = _servers.get(key)
    if cached is not None:
        return cached
    host = getattr(base, "host", None) or None
    port = getattr(base, "port", None)
    if port is None and host is not None:
        port = 443 if getattr(base, "scheme", "https") == "https" else 80
    result = (provider_of(name, host, port), host, port)
    if len(_servers) < 256:  # bounded: base URLs come from user code
        _servers[key] = result
    return result
