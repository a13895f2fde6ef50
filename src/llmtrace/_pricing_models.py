"""The pydantic models of a price table, and the validation of the user's price overrides.

Imported only when prices are given or asked for as models (``instrument(pricing=...)``,
``pricing_file``, ``ModelPrice(...)``, ``PriceTable.price_of``): building these models costs several
milliseconds, so the shipped ``prices.json`` is read as plain data at startup, and the test suite checks
it against `PriceFile` as strictly as an override file is checked here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
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


def read_overrides(source: Mapping[str, Any] | str | Path) -> dict[str, ModelPrice]:
    """Validated prices by lower-case model name, from a mapping or a JSON file (flat, or shaped as
    `PriceFile`). Raises ValueError (a `ValidationError` included) or TypeError."""
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


def problem(exc: Exception) -> str:
    """`exc` in one line: a validation error's first five problems, each with its location."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
        )
    return str(exc)
