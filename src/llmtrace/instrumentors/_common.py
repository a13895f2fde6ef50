"""Shape helpers shared by the instrumentors of SDKs generated from the same toolchain (Stainless):
argument sentinels, models as dicts, and the server behind a client. Pure functions, no telemetry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

Server = tuple[str, "str | None", "int | None"]
"""(gen_ai.provider.name, server.address, server.port)"""

_servers: dict[str, Server] = {}
_by_client: dict[int, tuple[Any, Server]] = {}


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


_SENTINELS = ("NotGiven", "Omit")


# Argument types that are never an SDK sentinel: checked first, as a set lookup, on the per-call path.
_PLAIN = frozenset({str, int, float, bool, list, dict, tuple})


def present(kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    """The arguments the caller gave, read-only: SDK sentinels and None dropped, ``extra_body`` laid over
    them (the SDK sends it over the keyword arguments). `kwargs` itself when there is nothing to drop
    or lay over (the usual case), so mappers read it with plain ``dict.get`` at no copying cost."""
    for value in kwargs.values():
        if type(value) not in _PLAIN and (value is None or type(value).__name__ in _SENTINELS):
            break
    else:
        if "extra_body" not in kwargs:
            return kwargs
    out = {k: v for k, v in kwargs.items() if v is not None and type(v).__name__ not in _SENTINELS}
    extra = out.get("extra_body")
    if extra is not None and isinstance(extra, Mapping):
        out.update((k, v) for k, v in extra.items() if v is not None)
    return out


class _Attributes:
    """`fields_of` for an object without a ``__dict__``: reads by attribute."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self._obj, name, default)


def fields_of(obj: Any) -> Any:
    """`obj`'s field values by name, to read with ``.get(name)``: a pydantic model's ``__dict__`` (with
    its extras laid over), a dict as is, else attribute reads. Reading a field a pydantic model lacks
    through ``getattr(model, name, None)`` runs pydantic's ``__getattr__`` and raises inside: ~3 µs a
    miss, against ~50 ns for a dict lookup, and the SDKs' usage objects lack most of the names we try."""
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, BaseModel):
        extra = obj.__pydantic_extra__
        return {**obj.__dict__, **extra} if extra else obj.__dict__
    return _Attributes(obj)


def listed(value: Any) -> list[Any] | tuple[Any, ...]:
    """`value` if it is a list or tuple, else nothing: a request argument of another type is the SDK's
    to reject, and another iterable (a generator) is the SDK's to consume, not ours."""
    return value if isinstance(value, (list, tuple)) else ()


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
    # The stored URL first: openai 3.x's base_url property runs an import statement on every read.
    base = getattr(client, "_base_url", None)
    if base is None:
        base = getattr(client, "base_url", None)
    # Fast path: the same client with the same base URL object as last time (ids can be reused by a
    # later client, but then its base_url is another object).
    fast = _by_client.get(id(client))
    if fast is not None and fast[0] is base:
        return fast[1]
    name = type(client).__name__
    key = f"{name}|{base}"
    cached = _servers.get(key)
    if cached is not None:
        if len(_by_client) < 1024:
            _by_client[id(client)] = (base, cached)
        return cached
    host = getattr(base, "host", None) or None
    port = getattr(base, "port", None)
    if port is None and host is not None:
        port = 443 if getattr(base, "scheme", "https") == "https" else 80
    result = (provider_of(name, host, port), host, port)
    if len(_servers) < 256:  # bounded: base URLs come from user code
        _servers[key] = result
    return result
