"""Model prices and the cost of a call in USD.

The shipped table is ``prices.json``: USD per million tokens, one entry per model, each naming the
provider section that records its ``as_of`` date and source page. `load_price_table` reads it as plain
data (the test suite validates it; the pydantic models in _pricing_models.py load only for the user's
overrides, startup time), merges the overrides over it, and returns the `PriceTable` the core asks for a
`Cost` once per call. docs/pricing.md describes the rules and how to refresh the prices.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmtrace._records import Usage
from llmtrace.config import ConfigError

if TYPE_CHECKING:  # at run time from __getattr__, on first use
    from llmtrace._pricing_models import ModelPrice, PriceFile, Provider, Rates, Tier

__all__ = [
    "Cost",
    "ModelPrice",
    "PriceFile",
    "PriceTable",
    "Provider",
    "Rates",
    "Tier",
    "default_prices",
    "load_price_table",
    "shipped_table",
]

_PER = 1_000_000
_MAX_NAMES = 4096  # model names come from user input: caches and warnings stay bounded
_log = logging.getLogger("llmtrace")
_MODELS = frozenset({"ModelPrice", "PriceFile", "Provider", "Rates", "Tier"})


def __getattr__(name: str) -> Any:
    # The pydantic models load on first use: the shipped table needs none of them (see _Shipped).
    if name not in _MODELS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from llmtrace import _pricing_models

    value = getattr(_pricing_models, name)
    globals()[name] = value
    return value


@dataclass(frozen=True, slots=True)
class Cost:
    """The cost of one call, split into input and output."""

    input_usd: float
    output_usd: float

    @property
    def total_usd(self) -> float:
        """Input plus output cost."""
        return self.input_usd + self.output_usd


# _Rates and _Priced are plain classes: a dataclass costs ~1 ms at import (startup time).
class _Rates:
    """Resolved per-million prices of one tier: every default already applied."""

    __slots__ = ("cache_read", "cache_write", "cache_write_1h", "input", "output", "reasoning")

    def __init__(
        self,
        *,
        input: float,
        output: float,
        cache_read: float,
        cache_write: float,
        cache_write_1h: float,
        reasoning: float | None,
    ) -> None:
        self.input = input
        self.output = output
        self.cache_read = cache_read
        self.cache_write = cache_write
        self.cache_write_1h = cache_write_1h
        self.reasoning = reasoning


class _Priced:
    __slots__ = ("base", "tiers")

    def __init__(self, base: _Rates, tiers: tuple[tuple[int, _Rates], ...]) -> None:
        self.base = base
        self.tiers = tiers
        """(above_input_tokens, rates), the highest bound first."""


_RATE_FIELDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h", "reasoning")


class _Shipped:
    """An entry of the shipped table as read from prices.json: plain data, not validated at startup
    (tests/core/test_pricing.py validates the file as strictly as an override file, and checks that
    each entry prices exactly as its validated `ModelPrice` does)."""

    __slots__ = ("aliases", "fields", "provider")

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.fields = fields
        self.aliases = tuple(a.strip().lower() for a in fields.get("aliases", ()))
        self.provider: str | None = fields.get("provider")


def _rates(p: Mapping[str, Any]) -> _Rates:
    """`p`'s prices (a price's fields, as JSON or as dumped) with the defaults applied."""
    # float() as pydantic's float fields do: a JSON 2 is 2.0.
    given = {k: float(p[k]) for k in _RATE_FIELDS if p.get(k) is not None}
    write = given.get("cache_write", given["input"])
    return _Rates(
        input=given["input"],
        output=given["output"],
        cache_read=given.get("cache_read", given["input"]),
        cache_write=write,
        cache_write_1h=given.get("cache_write_1h", write),
        reasoning=given.get("reasoning"),
    )


def _compile(price: ModelPrice | _Shipped, fine_tuned: bool) -> _Priced:
    fields = price.fields if isinstance(price, _Shipped) else price.model_dump()
    if fine_tuned and fields.get("fine_tuned") is not None:
        return _Priced(_rates(fields["fine_tuned"]), ())
    tiers = []
    for tier in reversed(fields.get("tiers") or ()):
        # the base with the prices the tier lists; a price unset at both still means the input price
        listed = {k: v for k, v in tier.items() if k in _RATE_FIELDS and v is not None}
        tiers.append((int(tier["above_input_tokens"]), _rates({**fields, **listed})))
    return _Priced(_rates(fields), tuple(tiers))


# Model-name spellings, undone in this order by `_candidates`.
_REGION = re.compile(r"^(?:us|eu|apac|au|ca|jp|us-gov|global)\.")  # Bedrock cross-region profiles
_VENDOR = re.compile(r"^(?:anthropic|amazon|meta|cohere|mistral|ai21|deepseek|openai|qwen|writer)\.")
_BEDROCK_REVISION = re.compile(r"(?::\d+k?)+$")  # ":0", ":2", ":0:200k"
_BEDROCK_VERSION = re.compile(r"-v\d+$")
_SNAPSHOT = re.compile(r"-(?:latest|\d{4}-\d{2}-\d{2}|\d{8}|\d{2}-\d{4}|\d{2}-\d{2}|\d{3,4})$")


def _candidates(name: str) -> Iterator[str]:
    """`name` and the names it may be a spelling of, most specific first."""
    yield name
    while "/" in name:  # routers ("openai/gpt-4o"), Vertex paths, Bedrock ARNs
        name = name.split("/", 1)[1]
        yield name
    name = name.split("@", 1)[0]  # Vertex: "claude-3-5-sonnet@20240620"
    yield name
    name = _REGION.sub("", name)
    yield name
    if _VENDOR.match(name):  # a Bedrock model id: "anthropic.claude-3-5-sonnet-20240620-v1:0"
        name = _BEDROCK_REVISION.sub("", name)
        yield name
        name = _BEDROCK_VERSION.sub("", name)
        yield name
        name = _VENDOR.sub("", name)
        yield name
    yield _SNAPSHOT.sub("", name)  # "gpt-4o-2024-08-06", "gpt-4-0613", "command-r7b-12-2024", "-latest"


class PriceTable:
    """Prices by model name, resolved once per name and cached.

    A name resolves, in order, to: a user alias (``model_aliases``); the exact entry or one of its
    ``aliases``; the same after dropping a router prefix (``openai/``), a Vertex ``@date``, a Bedrock
    region, revision, version and vendor (``us.anthropic.…-v1:0``) and a snapshot suffix (dates,
    ``-0613``, ``-001``, ``-latest``); finally the longest entry that is a prefix of it ending at a ``-``
    (so ``gpt-4`` never prices ``gpt-4o``). ``ft:<base>:…`` and Azure's ``<base>.ft-<id>`` resolve to
    their base model at its ``fine_tuned`` price.

    Example:
        >>> table = PriceTable({"gpt-4o-mini": ModelPrice(input=0.15, output=0.6)})
        >>> cost = table.cost_of(Usage(input_tokens=1000, output_tokens=100), "gpt-4o-mini-2024-07-18")
        >>> round(cost.total_usd, 6)
        0.00021
    """

    def __init__(
        self, prices: Mapping[str, ModelPrice | _Shipped], aliases: Mapping[str, str] | None = None
    ) -> None:
        self._prices = {name.strip().lower(): price for name, price in prices.items()}
        self._names: dict[str, str] = {}
        for name, price in self._prices.items():
            for alias in price.aliases:
                self._names.setdefault(alias, name)
        self._aliases = {k.strip().lower(): v.strip().lower() for k, v in (aliases or {}).items()}
        self._resolved: dict[str, _Priced | None] = {}
        self._compiled: dict[tuple[str, bool], _Priced] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def resolve(self, model: str) -> str | None:
        """The table entry that prices `model`, or None."""
        match = self._match(model)
        return None if match is None else match[0]

    def price_of(self, model: str) -> ModelPrice | None:
        """The prices `model` is billed at (a fine-tuned id: its base's fine-tuned prices), or None."""
        match = self._match(model)
        if match is None:
            return None
        from llmtrace._pricing_models import ModelPrice

        price = self._prices[match[0]]
        if isinstance(price, _Shipped):
            price = ModelPrice.model_validate(price.fields)
        if match[1] and price.fine_tuned is not None:
            return ModelPrice(**price.fine_tuned.model_dump(), provider=price.provider)
        return price

    def cost_of(self, usage: Usage, model: str | None, fallback: str | None = None) -> Cost | None:
        """The USD cost of `usage` on `model` (else on `fallback`), or None when unpriced.

        An unpriced model is logged once, as a warning; this never raises for an unknown name.
        """
        if usage.input_tokens is None:
            return None
        # the resolved-name cache inline: this runs on every call
        priced = None
        if model is not None:
            priced = self._resolved.get(model, _UNRESOLVED)
            if priced is _UNRESOLVED:
                priced = self._priced(model)
        if priced is None and fallback is not None:
            priced = self._priced(fallback)
        if priced is None:
            self._warn(model or fallback)
            return None
        return _cost(usage, priced)

    def _priced(self, model: str) -> _Priced | None:
        try:
            return self._resolved[model]
        except KeyError:
            pass
        match = self._match(model)
        priced = None
        if match is not None:
            priced = self._compiled.get(match)
            if priced is None:
                priced = self._compiled[match] = _compile(self._prices[match[0]], match[1])
        if len(self._resolved) < _MAX_NAMES:
            self._resolved[model] = priced
        return priced

    def _match(self, model: str) -> tuple[str, bool] | None:
        name = model.strip().lower()
        name = self._aliases.get(name, name)
        fine_tuned = False
        if name.startswith("ft:"):  # OpenAI and Mistral: "ft:<base>:<org>:<suffix>:<id>"
            name, fine_tuned = name.split(":")[1], True
        elif ".ft-" in name:  # Azure OpenAI: "<base>.ft-<id>"
            name, fine_tuned = name.split(".ft-", 1)[0], True
        candidates = list(dict.fromkeys(_candidates(name)))
        for candidate in candidates:
            key = candidate if candidate in self._prices else self._names.get(candidate)
            if key is not None:
                return key, fine_tuned
        for candidate in candidates:
            best = max(
                (k for k in (*self._prices, *self._names) if candidate.startswith(k + "-")),
                key=len,
                default=None,
            )
            if best is not None:
                return self._names.get(best, best), fine_tuned
        return None

    def _warn(self, model: str | None) -> None:
        if model is None or model in self._warned:
            return
        with self._lock:
            if model in self._warned or len(self._warned) >= _MAX_NAMES:
                return
            self._warned.add(model)
        _log.warning(
            "llmtrace: no price for model %r; its calls get no cost (add one with instrument(pricing=...))",
            model,
        )


_UNRESOLVED: Any = object()


def _cost(usage: Usage, priced: _Priced) -> Cost:
    tokens_in = usage.input_tokens or 0
    rates = priced.base
    for above, tier in priced.tiers:
        if tokens_in > above:
            rates = tier
            break
    read = usage.cache_read_input_tokens
    write = usage.cache_write_input_tokens
    if read or write:
        read = read or 0
        write = write or 0
        write_1h = min(usage.cache_write_1h_input_tokens or 0, write)
        fresh = max(tokens_in - read - write, 0)
        input_usd = (
            fresh * rates.input
            + read * rates.cache_read
            + (write - write_1h) * rates.cache_write
            + write_1h * rates.cache_write_1h
        ) / _PER
    else:  # the common case, kept short: it runs on every call
        input_usd = tokens_in * rates.input / _PER
    tokens_out = usage.output_tokens or 0
    reasoning = usage.reasoning_output_tokens
    if rates.reasoning is None or not reasoning:
        output_usd = tokens_out * rates.output / _PER
    else:
        reasoning = min(reasoning, tokens_out)
        output_usd = ((tokens_out - reasoning) * rates.output + reasoning * rates.reasoning) / _PER
    return Cost(input_usd, output_usd)


def _shipped_json() -> bytes:
    # Read by the package's loader, as importlib.resources would be, without its imports (~1 ms).
    loader: Any = __spec__.loader
    return loader.get_data(os.path.join(os.path.dirname(__file__), "prices.json"))  # type: ignore[no-any-return]


@functools.cache
def _shipped() -> dict[str, _Shipped]:
    """The shipped entries by model name, as plain data (once per process)."""
    table = json.loads(_shipped_json())
    if not table.get("providers"):
        raise ValueError("llmtrace: prices.json has no provider sections")
    return {name.strip().lower(): _Shipped(fields) for name, fields in table["models"].items()}


@functools.cache
def shipped_table() -> PriceFile:
    """The price table shipped with llmtrace, validated (once per process)."""
    from llmtrace._pricing_models import PriceFile

    table = PriceFile.model_validate_json(_shipped_json())
    if not table.providers:
        raise ValueError("llmtrace: prices.json has no provider sections")
    return table


def default_prices() -> dict[str, ModelPrice]:
    """The shipped prices by model name, validated."""
    return dict(shipped_table().models)


def load_price_table(
    pricing: Mapping[str, Any] | str | Path | None = None,
    *,
    pricing_file: str | Path | None = None,
    model_aliases: Mapping[str, str] | None = None,
) -> PriceTable:
    """The shipped prices, updated by `pricing_file`, then by `pricing` (each a mapping or a JSON file).

    An override entry replaces the shipped entry of that name; when it lists no aliases or provider, it
    keeps the shipped entry's (so ``gpt-4-1106-preview`` follows an override of ``gpt-4-turbo``).

    Raises:
        ConfigError: An override is unreadable or invalid; the message names the setting.
    """
    prices: dict[str, ModelPrice | _Shipped] = dict(_shipped())
    for setting, source in (("pricing_file", pricing_file), ("pricing", pricing)):
        if source is None:
            continue
        from llmtrace import _pricing_models  # only for overrides: validating them needs the models

        try:
            overrides = _pricing_models.read_overrides(source)
        except (ValueError, TypeError) as exc:  # ValidationError is a ValueError
            raise ConfigError(
                f"llmtrace: invalid setting {setting!r}: {_pricing_models.problem(exc)}"
            ) from None
        for name, price in overrides.items():
            shipped = prices.get(name)
            if shipped is not None:
                keep = {
                    "aliases": price.aliases or shipped.aliases,
                    "provider": price.provider or shipped.provider,
                }
                prices[name] = price.model_copy(update=keep)
            else:
                prices[name] = price
    return PriceTable(prices, model_aliases)
