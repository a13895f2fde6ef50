"""Model prices and the cost of a call in USD.

The shipped table is ``prices.json``: USD per million tokens, one entry per model, each naming the
provider section that records its ``as_of`` date and source page. `load_price_table` validates it,
merges the user's overrides over it, and returns the `PriceTable` the core asks for a `Cost` once per
call. docs/pricing.md describes the rules and how to refresh the prices.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from llmtrace._records import Usage
from llmtrace.config import ConfigError

_PER = 1_000_000
_MAX_NAMES = 4096  # model names come from user input: caches and warnings stay bounded
_log = logging.getLogger("llmtrace")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Rates(_Strict):
    """Prices in USD per million tokens. A missing cache price is the input price."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    """Input tokens read from the prompt cache."""
    cache_write: float | None = Field(default=None, ge=0)
    """Input tokens written to the prompt cache (Anthropic: the 5-minute cache)."""
    cache_write_1h: float | None = Field(default=None, ge=0)
    """Input tokens written to Anthropic's 1-hour cache (default: the cache_write price)."""
    reasoning: float | None = Field(default=None, ge=0)
    """Reasoning output tokens, where priced apart (default: the output price)."""


class Tier(_Strict):
    """Prices for prompts longer than `above_input_tokens`; fields left out keep the base price."""

    above_input_tokens: int = Field(gt=0)
    input: float | None = Field(default=None, ge=0)
    output: float | None = Field(default=None, ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)
    cache_write_1h: float | None = Field(default=None, ge=0)
    reasoning: float | None = Field(default=None, ge=0)


class ModelPrice(Rates):
    """List price of one model in USD per million tokens.

    Example:
        >>> ModelPrice(input=2.5, output=10, cache_read=1.25).cache_read
        1.25
    """

    provider: str | None = None
    """The price-table section the entry belongs to (shipped entries always name one)."""
    tiers: tuple[Tier, ...] = ()
    """Long-context prices, chosen by the call's total input tokens (cache reads and writes included)."""
    fine_tuned: Rates | None = None
    """Prices of fine-tuned copies (``ft:<model>:...``); without them a fine-tune costs the base price."""
    aliases: tuple[str, ...] = ()
    """Other exact names of this model (legacy, Azure or Bedrock spellings)."""
    note: str | None = Field(default=None, alias="_note")

    @field_validator("aliases")
    @classmethod
    def _lower(cls, aliases: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(a.strip().lower() for a in aliases)

    @field_validator("tiers")
    @classmethod
    def _ascending(cls, tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
        bounds = [t.above_input_tokens for t in tiers]
        if bounds != sorted(set(bounds)):
            raise ValueError("tiers must have distinct above_input_tokens, in ascending order")
        return tiers


class Provider(_Strict):
    """A provider section: where its prices come from and when they were last checked."""

    as_of: date
    source: str = Field(pattern=r"^https://")
    note: str | None = Field(default=None, alias="_note")


class PriceFile(_Strict):
    """The shipped table, or an override file in the same shape (where ``providers`` is optional)."""

    note: str | None = Field(default=None, alias="_note")
    providers: dict[str, Provider] = Field(default_factory=dict)
    models: dict[str, ModelPrice]

    @field_validator("models")
    @classmethod
    def _lower_names(cls, models: dict[str, ModelPrice]) -> dict[str, ModelPrice]:
        return {name.strip().lower(): price for name, price in models.items()}

    @model_validator(mode="after")
    def _providers_declared(self) -> PriceFile:
        if self.providers:
            for name, price in self.models.items():
                if price.provider not in self.providers:
                    raise ValueError(f"model {name!r}: provider {price.provider!r} has no section")
        return self


_OVERRIDES: TypeAdapter[dict[str, ModelPrice]] = TypeAdapter(dict[str, ModelPrice])


@dataclass(frozen=True, slots=True)
class Cost:
    """The cost of one call, split into input and output."""

    input_usd: float
    output_usd: float

    @property
    def total_usd(self) -> float:
        """Input plus output cost."""
        return self.input_usd + self.output_usd


@dataclass(frozen=True, slots=True)
class _Rates:
    """Resolved per-million prices of one tier: every default already applied."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    cache_write_1h: float
    reasoning: float | None


@dataclass(frozen=True, slots=True)
class _Priced:
    base: _Rates
    tiers: tuple[tuple[int, _Rates], ...]
    """(above_input_tokens, rates), the highest bound first."""


def _rates(p: Rates) -> _Rates:
    write = p.input if p.cache_write is None else p.cache_write
    return _Rates(
        input=p.input,
        output=p.output,
        cache_read=p.input if p.cache_read is None else p.cache_read,
        cache_write=write,
        cache_write_1h=write if p.cache_write_1h is None else p.cache_write_1h,
        reasoning=p.reasoning,
    )


def _tier_rates(tier: Tier, base: ModelPrice) -> _Rates:
    """`base` with the prices `tier` lists; a price left unset at both still means the input price."""
    return _rates(base.model_copy(update=tier.model_dump(exclude={"above_input_tokens"}, exclude_none=True)))


def _compile(price: ModelPrice, fine_tuned: bool) -> _Priced:
    if fine_tuned and price.fine_tuned is not None:
        return _Priced(_rates(price.fine_tuned), ())
    tiers = tuple((t.above_input_tokens, _tier_rates(t, price)) for t in reversed(price.tiers))
    return _Priced(_rates(price), tiers)


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

    def __init__(self, prices: Mapping[str, ModelPrice], aliases: Mapping[str, str] | None = None) -> None:
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
        price = self._prices[match[0]]
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


@functools.cache
def shipped_table() -> PriceFile:
    """The price table shipped with llmtrace, validated (once per process)."""
    text = resources.files("llmtrace").joinpath("prices.json").read_text("utf-8")
    table = PriceFile.model_validate_json(text)
    if not table.providers:
        raise ValueError("llmtrace: prices.json has no provider sections")
    return table


def default_prices() -> dict[str, ModelPrice]:
    """The shipped prices by model name."""
    return dict(shipped_table().models)


def _read_overrides(source: Mapping[str, Any] | str | Path) -> dict[str, ModelPrice]:
    data: Any = source
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        try:
            data = json.loads(path.read_text("utf-8"))
        except OSError as exc:
            raise ValueError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ValueError(f"{str(path)!r} is not JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a mapping of model name to prices, got {type(data).__name__}")
    if "models" in data:
        return PriceFile.model_validate(data).models
    return {name.strip().lower(): price for name, price in _OVERRIDES.validate_python(data).items()}


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
        )
    return str(exc)


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
    prices = default_prices()
    for setting, source in (("pricing_file", pricing_file), ("pricing", pricing)):
        if source is None:
            continue
        try:
            overrides = _read_overrides(source)
        except (ValueError, TypeError) as exc:  # ValidationError is a ValueError
            raise ConfigError(f"llmtrace: invalid setting {setting!r}: {_problem(exc)}") from None
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
