"""Model prices and the cost of a call in USD."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmtrace._records import Usage

_PER = 1_000_000
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4}|\d{8})$")


class ModelPrice(BaseModel):
    """List price of one model in USD per million tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    """Price of cache-read input tokens (default: the input price)."""
    cache_write: float | None = Field(default=None, ge=0)
    """Price of cache-write input tokens (default: the input price)."""


@dataclass(frozen=True, slots=True)
class Cost:
    """The cost of one call, split into input and output."""

    input_usd: float
    output_usd: float

    @property
    def total_usd(self) -> float:
        """Input plus output cost."""
        return self.input_usd + self.output_usd


class PriceTable:
    """Prices by model name; a dated or suffixed name falls back to its base name.

    Example:
        >>> table = PriceTable({"gpt-4o-mini": ModelPrice(input=0.15, output=0.6)})
        >>> cost = table.cost_of(Usage(input_tokens=1000, output_tokens=100), "gpt-4o-mini-2024-07-18")
        >>> round(cost.total_usd, 6)
        0.00021
    """

    def __init__(self, prices: Mapping[str, ModelPrice]) -> None:
        self._prices = dict(prices)
        self._resolved: dict[str, ModelPrice | None] = {}

    def price_of(self, model: str) -> ModelPrice | None:
        """The price of `model`: exact name, then without a date suffix, then the longest `-` prefix."""
        try:
            return self._resolved[model]
        except KeyError:
            pass
        price = self._lookup(model)
        if len(self._resolved) < 4096:  # bounded: model names come from user input
            self._resolved[model] = price
        return price

    def _lookup(self, model: str) -> ModelPrice | None:
        name = model.lower()
        if "/" in name:  # "openai/gpt-4o" as routers spell it
            name = name.rsplit("/", 1)[1]
        for candidate in (name, _DATE_SUFFIX.sub("", name)):
            if candidate in self._prices:
                return self._prices[candidate]
        best: str | None = None
        for key in self._prices:
            if name.startswith(key + "-") and (best is None or len(key) > len(best)):
                best = key
        return self._prices[best] if best is not None else None

    def cost_of(self, usage: Usage, model: str | None) -> Cost | None:
        """The USD cost of `usage` on `model`, or None when the model or the counts are unknown."""
        if model is None or usage.input_tokens is None:
            return None
        price = self.price_of(model)
        if price is None:
            return None
        read = usage.cache_read_input_tokens or 0
        write = usage.cache_write_input_tokens or 0
        fresh = max(usage.input_tokens - read - write, 0)
        input_usd = (
            fresh * price.input
            + read * (price.input if price.cache_read is None else price.cache_read)
            + write * (price.input if price.cache_write is None else price.cache_write)
        ) / _PER
        output_usd = (usage.output_tokens or 0) * price.output / _PER
        return Cost(input_usd, output_usd)


def default_prices() -> dict[str, ModelPrice]:
    """The price table shipped with llmtrace."""
    data = json.loads(resources.files("llmtrace").joinpath("prices.json").read_text("utf-8"))
    return {name: ModelPrice(**p) for name, p in data["models"].items()}


def load_price_table(overrides: Mapping[str, Any] | str | Path | None = None) -> PriceTable:
    """The shipped prices, updated with `overrides` (a mapping of model to price, or a JSON file)."""
    prices = default_prices()
    table: Mapping[str, Any]
    if isinstance(overrides, (str, Path)):
        data = json.loads(Path(overrides).read_text("utf-8"))
        table = data.get("models", data)
    else:
        table = overrides or {}
    for name, price in table.items():
        prices[name.lower()] = price if isinstance(price, ModelPrice) else ModelPrice(**price)
    return PriceTable(prices)
