"""Pricing: the shipped table, model-name resolution, overrides, and costs against hand-computed values.

Prices are USD per million tokens, so every expected cost below is ``tokens x price / 1_000_000``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

import llmtrace
from llmtrace import _core, _pricing_models, pricing
from llmtrace._records import Usage
from llmtrace.config import ConfigError, load_settings
from llmtrace.instrumentors import REGISTRY
from llmtrace.instrumentors.anthropic import _usage as anthropic_usage
from llmtrace.pricing import ModelPrice, PriceTable, load_price_table

M = 1_000_000
DOCS = Path(__file__).resolve().parents[2] / "docs" / "pricing.md"


@pytest.fixture(scope="module")
def table():
    return load_price_table()


def cost(table, model, **usage):
    result = table.cost_of(Usage(**usage), model)
    assert result is not None, f"{model} is not priced"
    return result


# --- the shipped table ------------------------------------------------------------------------------


def test_shipped_table_validates_and_every_provider_has_as_of_and_source():
    shipped = pricing.shipped_table()
    assert set(shipped.providers) == {"openai", "anthropic", "google", "mistral", "cohere", "groq", "bedrock"}
    for name, section in shipped.providers.items():
        assert section.as_of.year >= 2025, name
        assert section.source.startswith("https://"), name
    per_provider = Counter(price.provider for price in shipped.models.values())
    assert set(per_provider) == set(shipped.providers)  # no empty section, no entry outside one


def test_shipped_names_are_unique_lowercase_and_resolve_to_themselves(table):
    raw = resources.files("llmtrace").joinpath("prices.json").read_text("utf-8")
    top = dict(json.loads(raw, object_pairs_hook=list))  # keeps duplicate keys, which dict() would merge
    keys = [name for name, _ in top["models"]]
    assert len(keys) == len(set(keys)), "a model is listed twice"
    models = pricing.shipped_table().models
    aliases = [alias for price in models.values() for alias in price.aliases]
    assert len(aliases) == len(set(aliases)), "an alias is listed twice"
    assert not set(aliases) & set(models), "an alias shadows a model"
    for name, price in models.items():
        assert name == name.strip().lower()
        assert table.resolve(name) == name
        for alias in price.aliases:
            assert table.resolve(alias) == name


def test_shipped_file_passes_the_checks_an_override_file_gets():
    # The same path as instrument(pricing_file=...) takes: a file in the shipped shape is a PriceFile.
    path = Path(str(resources.files("llmtrace").joinpath("prices.json")))
    assert _pricing_models.read_overrides(path) == pricing.shipped_table().models


def _state(priced):
    """A compiled price as plain values, with their types (a JSON 2 must have become 2.0)."""

    def rates(r):
        return [(slot, type(getattr(r, slot)).__name__, getattr(r, slot)) for slot in r.__slots__]

    return rates(priced.base), [(above, rates(tier)) for above, tier in priced.tiers]


def test_shipped_entries_read_as_plain_data_price_exactly_as_validated():
    # instrument() reads prices.json without pydantic (startup time); each entry must compile to the
    # same rates, tiers, fine-tuned rates, aliases and provider as its validated ModelPrice.
    validated = pricing.shipped_table().models
    plain = pricing._shipped()
    assert list(plain) == list(validated)
    for name, price in validated.items():
        for fine_tuned in (False, True):
            assert _state(pricing._compile(plain[name], fine_tuned)) == _state(
                pricing._compile(price, fine_tuned)
            ), name
        assert (plain[name].aliases, plain[name].provider) == (price.aliases, price.provider), name
        assert load_price_table().price_of(name) == price  # the model, on demand


def test_instrument_loads_the_price_models_only_when_prices_are_given():
    script = (
        "import sys, llmtrace\n"
        "handle = llmtrace.instrument(exporter='none', providers=[])\n"
        "print('llmtrace._pricing_models' in sys.modules)\n"
        "handle.uninstrument()\n"
        "llmtrace.instrument(exporter='none', providers=[], pricing={'m': {'input': 1, 'output': 2}})\n"
        "print('llmtrace._pricing_models' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRACE_", "OTEL_"))}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


def test_docs_list_every_priced_model_and_each_as_of():
    docs = DOCS.read_text("utf-8")
    shipped = pricing.shipped_table()
    missing = [name for name in shipped.models if f"`{name}`" not in docs]
    assert missing == [], "docs/pricing.md is missing these models"
    for name, section in shipped.providers.items():
        assert section.as_of.isoformat() in docs, name
        assert section.source in docs, name


# --- resolution -------------------------------------------------------------------------------------


RESOLVES = [
    # exact, dated snapshots, -latest, router prefixes (OpenAI)
    ("gpt-4o", "gpt-4o"),
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # an exact entry beats the snapshot rule
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("openai/gpt-4.1", "gpt-4.1"),
    ("gpt-4-0613", "gpt-4"),
    ("gpt-4-1106-preview", "gpt-4-turbo"),  # alias: the prefix rule would have said gpt-4
    ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
    ("gpt-35-turbo", "gpt-3.5-turbo"),
    ("gpt-5-2025-08-07", "gpt-5"),
    ("gpt-5-chat-latest", "gpt-5"),
    ("o3-mini-2025-01-31", "o3-mini"),
    ("o1-preview", "o1"),
    ("gpt-4o-mini-search-preview-2025-03-11", "gpt-4o-mini"),
    ("davinci:2023-07-21-v2", "davinci-002"),
    ("text-embedding-3-small", "text-embedding-3-small"),
    # Anthropic, Vertex and Bedrock spellings
    ("claude-3-5-sonnet-20240620", "claude-3-5-sonnet"),
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
    ("anthropic/claude-3.7-sonnet", "claude-3-7-sonnet"),
    ("anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
    ("us.anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),
    ("eu.anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
    ("apac.anthropic.claude-3-haiku-20240307-v1:0:200k", "claude-3-haiku"),
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
    ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
    ("anthropic.claude-v2", "claude-2.0"),
    ("anthropic.claude-v2:1", "claude-2.1"),
    ("anthropic.claude-instant-v1", "claude-instant-1.2"),
    # Google
    ("gemini-2.5-pro", "gemini-2.5-pro"),
    ("gemini-2.0-flash-001", "gemini-2.0-flash"),
    ("models/gemini-1.5-pro-002", "gemini-1.5-pro"),
    ("gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite"),
    ("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash-preview-04-17"),
    ("gemini-embedding-001", "gemini-embedding-001"),
    # Mistral
    ("mistral-large-latest", "mistral-large"),
    ("mistral-small-2503", "mistral-small"),
    ("mistral-small-2409", "mistral-small-2409"),
    ("mistral-tiny", "open-mistral-7b"),
    ("codestral-2501", "codestral"),
    ("open-mistral-nemo-2407", "open-mistral-nemo"),
    ("mistral-embed", "mistral-embed"),
    # Cohere
    ("command-a-03-2025", "command-a"),
    ("command-r", "command-r"),
    ("command-r-08-2024", "command-r-08-2024"),
    ("command-r7b-12-2024", "command-r7b"),
    ("embed-english-light-v3.0", "embed-english-light-v3.0"),
    # Groq
    ("llama3-8b-8192", "llama3-8b-8192"),
    ("llama-3.3-70b-versatile", "llama-3.3-70b-versatile"),
    ("openai/gpt-oss-120b", "openai/gpt-oss-120b"),
    ("groq/openai/gpt-oss-20b", "openai/gpt-oss-20b"),
    # Bedrock-only families
    ("amazon.nova-micro-v1:0", "amazon.nova-micro"),
    ("us.amazon.nova-pro-v1:0", "amazon.nova-pro"),
    ("amazon.titan-text-lite-v1", "amazon.titan-text-lite"),
    ("amazon.titan-embed-text-v2:0", "amazon.titan-embed-text-v2"),
    ("meta.llama3-70b-instruct-v1:0", "meta.llama3-70b-instruct"),
    ("us.meta.llama3-2-11b-instruct-v1:0", "meta.llama3-2-11b-instruct"),
    ("cohere.command-r-v1:0", "command-r"),
    ("cohere.command-text-v14", "cohere.command-text"),
    ("mistral.mistral-7b-instruct-v0:2", "mistral.mistral-7b-instruct"),
    ("mistral.mistral-large-2402-v1:0", "mistral.mistral-large-2402"),
    # fine-tuned ids resolve to their base
    ("ft:gpt-4o-mini-2024-07-18:my-org::abc123", "gpt-4o-mini"),
    ("gpt-4o-mini-2024-07-18.ft-0123456789abcdef", "gpt-4o-mini"),
    ("ft:open-mistral-7b:587a6b29:20240514:7e773925", "open-mistral-7b"),
    # never priced: prefixes match on "-" boundaries only; other hosts' names are not guessed
    ("gpt-4oops", None),
    ("llama3", None),
    ("meta-llama/Llama-3.3-70B-Instruct-Turbo", None),
    ("my-own-model", None),
]


@pytest.mark.parametrize(("model", "entry"), RESOLVES)
def test_model_names_resolve_to_their_entry(table, model, entry):
    assert table.resolve(model) == entry


def test_every_provider_section_is_covered_by_the_resolution_cases(table):
    models = pricing.shipped_table().models
    covered = {models[entry].provider for _, entry in RESOLVES if entry is not None}
    assert covered == set(pricing.shipped_table().providers)


def test_fine_tuned_ids_cost_the_fine_tuned_price(table):
    # gpt-4o-mini fine-tuned: input 0.30, cached 0.15, output 1.20
    c = cost(
        table,
        "ft:gpt-4o-mini-2024-07-18:org::x",
        input_tokens=1000,
        cache_read_input_tokens=400,
        output_tokens=100,
    )
    assert c.input_usd == pytest.approx((600 * 0.30 + 400 * 0.15) / M)  # 0.00024
    assert c.output_usd == pytest.approx(100 * 1.20 / M)  # 0.00012
    # no fine-tuned price listed: the base price (open-mistral-7b 0.25 / 0.25)
    c = cost(table, "ft:open-mistral-7b:org:20240514:x", input_tokens=1000, output_tokens=100)
    assert c.total_usd == pytest.approx((1000 * 0.25 + 100 * 0.25) / M)


def test_azure_deployment_names_resolve_through_model_aliases_from_the_environment():
    settings = load_settings(
        {}, {"LLMTRACE_MODEL_ALIASES": '{"Prod-Chat": "gpt-4o", "embedder": "text-embedding-3-small"}'}
    )
    table = load_price_table(model_aliases=settings.model_aliases)
    assert table.resolve("prod-chat") == "gpt-4o"
    c = cost(table, "Prod-Chat", input_tokens=1000, output_tokens=100)
    assert c.total_usd == pytest.approx((1000 * 2.5 + 100 * 10.0) / M)  # 0.0035
    assert table.resolve("embedder") == "text-embedding-3-small"


def test_model_aliases_reach_the_runtime_through_instrument(instrument, monkeypatch):
    monkeypatch.setitem(REGISTRY, "fake", "fakesdk")
    instrument(providers=["fake"], model_aliases={"my-deployment": "gpt-4o-mini"})
    assert _core.RUNTIME.prices.resolve("my-deployment") == "gpt-4o-mini"


def test_malformed_model_aliases_fail_naming_the_setting(monkeypatch):
    monkeypatch.setenv("LLMTRACE_MODEL_ALIASES", "{not json")
    with pytest.raises(ConfigError, match=r"'model_aliases' \(from LLMTRACE_MODEL_ALIASES\)"):
        llmtrace.instrument()


# --- costs ------------------------------------------------------------------------------------------


def test_uncached_cost(table):
    c = cost(table, "gpt-4o", input_tokens=1000, output_tokens=200)
    assert c.input_usd == pytest.approx(1000 * 2.50 / M)  # 0.0025
    assert c.output_usd == pytest.approx(200 * 10.00 / M)  # 0.002
    assert c.total_usd == pytest.approx(0.0045)


def test_cached_input_is_priced_at_the_cache_read_rate(table):
    # gpt-4o-mini: 10,000 input of which 8,000 cached; input 0.15, cached 0.075, output 0.60
    c = cost(table, "gpt-4o-mini", input_tokens=10_000, cache_read_input_tokens=8_000, output_tokens=500)
    assert c.input_usd == pytest.approx((2_000 * 0.15 + 8_000 * 0.075) / M)  # 0.0009
    assert c.output_usd == pytest.approx(500 * 0.60 / M)  # 0.0003


def test_anthropic_cache_reads_and_5m_and_1h_writes(table):
    # As the Anthropic API reports it: input_tokens exclude the cache reads and writes.
    usage = anthropic_usage(
        {
            "input_tokens": 100,
            "cache_read_input_tokens": 2_000,
            "cache_creation_input_tokens": 1_000,
            "cache_creation": {"ephemeral_5m_input_tokens": 600, "ephemeral_1h_input_tokens": 400},
            "output_tokens": 300,
        }
    )
    assert (usage.input_tokens, usage.cache_write_1h_input_tokens) == (3_100, 400)
    c = table.cost_of(usage, "claude-sonnet-4-5-20250929")
    # sonnet 4.5: input 3, cache read 0.30, 5m write 3.75, 1h write 6, output 15
    assert c.input_usd == pytest.approx((100 * 3 + 2_000 * 0.30 + 600 * 3.75 + 400 * 6) / M)  # 0.00555
    assert c.output_usd == pytest.approx(300 * 15 / M)  # 0.0045


def test_a_1h_write_without_its_own_price_costs_the_cache_write_price():
    table = PriceTable({"m": ModelPrice(input=1.0, output=2.0, cache_write=1.25)})
    usage = Usage(input_tokens=1_000, cache_write_input_tokens=1_000, cache_write_1h_input_tokens=1_000)
    assert table.cost_of(usage, "m").input_usd == pytest.approx(1_000 * 1.25 / M)
    # and with no cache prices at all, cache tokens cost the input price
    table = PriceTable({"m": ModelPrice(input=2.0, output=8.0)})
    usage = Usage(
        input_tokens=1_000, cache_read_input_tokens=600, cache_write_input_tokens=100, output_tokens=10
    )
    assert table.cost_of(usage, "m").input_usd == pytest.approx(1_000 * 2.0 / M)


def test_reasoning_tokens_at_their_own_price_where_listed(table):
    # gemini-2.5-flash-preview-04-17: input 0.15, output 0.60, reasoning (thinking) 3.50;
    # 3,000 output tokens of which 2,000 are reasoning.
    c = cost(
        table,
        "gemini-2.5-flash-preview-04-17",
        input_tokens=1_000,
        output_tokens=3_000,
        reasoning_output_tokens=2_000,
    )
    assert c.input_usd == pytest.approx(1_000 * 0.15 / M)  # 0.00015
    assert c.output_usd == pytest.approx((1_000 * 0.60 + 2_000 * 3.50) / M)  # 0.0076


def test_reasoning_tokens_are_output_tokens_where_not_priced_apart(table):
    # o3: output 8; reasoning tokens are part of the 3,000 output tokens and cost the same
    c = cost(table, "o3", input_tokens=1_000, output_tokens=3_000, reasoning_output_tokens=2_000)
    assert c.output_usd == pytest.approx(3_000 * 8.0 / M)  # 0.024


def test_long_context_tier_starts_above_the_threshold(table):
    # gemini-2.5-pro: 1.25 / 10 up to 200k prompt tokens, 2.50 / 15 above
    at = cost(table, "gemini-2.5-pro", input_tokens=200_000, output_tokens=1_000)
    assert at.input_usd == pytest.approx(200_000 * 1.25 / M)  # 0.25
    assert at.output_usd == pytest.approx(1_000 * 10 / M)  # 0.01
    above = cost(table, "gemini-2.5-pro", input_tokens=200_001, output_tokens=1_000)
    assert above.input_usd == pytest.approx(200_001 * 2.50 / M)  # 0.5000025
    assert above.output_usd == pytest.approx(1_000 * 15 / M)  # 0.015


def test_anthropic_tier_counts_cache_reads_toward_the_threshold(table):
    # claude-sonnet-4-5: 150k fresh + 60k cache reads = 210k input > 200k, so the whole call is at
    # the long-context prices: input 6, cache read 0.60, output 22.50
    c = cost(
        table, "claude-sonnet-4-5", input_tokens=210_000, cache_read_input_tokens=60_000, output_tokens=1_000
    )
    assert c.input_usd == pytest.approx((150_000 * 6 + 60_000 * 0.60) / M)  # 0.936
    assert c.output_usd == pytest.approx(1_000 * 22.50 / M)  # 0.0225
    below = cost(table, "claude-sonnet-4-5", input_tokens=199_999, output_tokens=1_000)
    assert below.total_usd == pytest.approx((199_999 * 3 + 1_000 * 15) / M)


def test_a_tier_keeps_the_base_prices_it_does_not_list():
    price = ModelPrice(
        input=1.0,
        output=4.0,
        cache_read=0.1,
        tiers=[{"above_input_tokens": 100, "input": 2.0}, {"above_input_tokens": 1_000, "output": 9.0}],
    )
    table = PriceTable({"m": price})
    # 500 input: the first tier (input 2.0), base output 4.0 and base cache read 0.1
    c = table.cost_of(Usage(input_tokens=500, cache_read_input_tokens=100, output_tokens=10), "m")
    assert c.input_usd == pytest.approx((400 * 2.0 + 100 * 0.1) / M)
    assert c.output_usd == pytest.approx(10 * 4.0 / M)
    # 2,000 input: only the highest tier applies (input back to the base 1.0, output 9.0)
    c = table.cost_of(Usage(input_tokens=2_000, output_tokens=10), "m")
    assert c.total_usd == pytest.approx((2_000 * 1.0 + 10 * 9.0) / M)


def test_embeddings_have_input_cost_only(table):
    c = cost(table, "text-embedding-3-small", input_tokens=5_000)
    assert (c.input_usd, c.output_usd) == (pytest.approx(5_000 * 0.02 / M), 0.0)


def test_no_input_count_means_no_cost(table):
    assert table.cost_of(Usage(output_tokens=10), "gpt-4o") is None


# --- overrides --------------------------------------------------------------------------------------


def test_override_mapping_adds_and_replaces_models():
    table = load_price_table(
        {"house-model": {"input": 1.0, "output": 2.0}, "GPT-4o": ModelPrice(input=9, output=9)}
    )
    assert table.price_of("house-model") == ModelPrice(input=1.0, output=2.0)
    assert cost(
        table, "gpt-4o-2024-08-06", input_tokens=1_000, output_tokens=1_000
    ).total_usd == pytest.approx((1_000 * 9 + 1_000 * 9) / M)
    assert table.price_of("gpt-4o-mini").input == 0.15  # everything else is still shipped


def test_override_keeps_the_shipped_aliases_unless_it_lists_its_own():
    table = load_price_table({"gpt-4-turbo": {"input": 5, "output": 15}})
    assert table.price_of("gpt-4-1106-preview").input == 5


@pytest.mark.parametrize(
    "content",
    [
        {"house-model": {"input": 1.0, "output": 2.0}},
        {"_note": "ours", "models": {"house-model": {"input": 1.0, "output": 2.0, "_note": "negotiated"}}},
    ],
)
def test_override_file_flat_or_in_the_shipped_shape(tmp_path, content):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(content))
    assert load_price_table(path).price_of("house-model").output == 2.0
    assert load_price_table(str(path)).price_of("house-model").output == 2.0


def test_pricing_file_from_the_environment_with_the_kwarg_on_top(instrument, tmp_path, monkeypatch):
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps({"house-model": {"input": 1.0, "output": 2.0}, "gpt-4o": {"input": 7, "output": 7}})
    )
    monkeypatch.setenv("LLMTRACE_PRICING_FILE", str(path))
    monkeypatch.setitem(REGISTRY, "fake", "fakesdk")
    instrument(providers=["fake"], pricing={"gpt-4o": {"input": 8, "output": 8}})
    prices = _core.RUNTIME.prices
    assert prices.price_of("house-model").input == 1.0  # from the file
    assert prices.price_of("gpt-4o").input == 8  # the kwarg wins over the file
    assert prices.price_of("gpt-4o-mini").input == 0.15  # the shipped table below both


@pytest.mark.parametrize(
    ("pricing_arg", "message"),
    [
        ({"m": {"input": -1, "output": 1}}, r"m\.input: Input should be greater than or equal to 0"),
        ({"m": {"input": 1}}, r"m\.output: Field required"),
        ({"m": {"inptu": 1, "output": 1}}, r"m\.inptu: Extra inputs are not permitted"),
        (
            {"m": {"input": 1, "output": 1, "tiers": [{"above_input_tokens": 9}, {"above_input_tokens": 5}]}},
            "ascending",
        ),
        ({"m": "cheap"}, r"m: Input should be a valid dictionary"),
        ("/no/such/prices.json", "cannot read '/no/such/prices.json'"),
    ],
)
def test_malformed_override_fails_at_instrument_naming_pricing(pricing_arg, message):
    with pytest.raises(ConfigError, match=r"invalid setting 'pricing': .*" + message):
        llmtrace.instrument(pricing=pricing_arg)
    assert _core.RUNTIME is None


def test_malformed_pricing_file_names_pricing_file(tmp_path, monkeypatch):
    path = tmp_path / "prices.json"
    path.write_text("[1, 2")
    monkeypatch.setenv("LLMTRACE_PRICING_FILE", str(path))
    with pytest.raises(ConfigError, match=r"invalid setting 'pricing_file': .* is not JSON"):
        llmtrace.instrument()
    path.write_text("[1, 2]")
    with pytest.raises(
        ConfigError, match=r"'pricing_file': expected a mapping of model name to prices, got list"
    ):
        llmtrace.instrument()
    assert _core.RUNTIME is None


# --- unknown models ---------------------------------------------------------------------------------


def test_unknown_model_has_no_cost_and_warns_once_per_name(caplog):
    table = load_price_table()
    usage = Usage(input_tokens=10, output_tokens=10)
    with caplog.at_level(logging.WARNING, logger="llmtrace"):
        for _ in range(3):
            assert table.cost_of(usage, "my-own-model") is None
        assert table.cost_of(usage, "another-model") is None
    warnings = [r for r in caplog.records if r.name == "llmtrace" and r.levelno == logging.WARNING]
    assert [r.getMessage().split("'")[1] for r in warnings] == ["my-own-model", "another-model"]


def test_a_priced_fallback_silences_the_warning(caplog):
    table = load_price_table()
    with caplog.at_level(logging.WARNING, logger="llmtrace"):
        c = table.cost_of(Usage(input_tokens=1_000), "gpt-4o-snapshot-from-the-future", "gpt-4o")
    assert c.input_usd == pytest.approx(1_000 * 2.5 / M)
    assert caplog.records == []


def test_name_cache_and_warnings_are_bounded(monkeypatch, caplog):
    monkeypatch.setattr(pricing, "_MAX_NAMES", 3)
    table = load_price_table()
    with caplog.at_level(logging.WARNING, logger="llmtrace"):
        for i in range(10):
            table.cost_of(Usage(input_tokens=1), f"unknown-{i}")
    assert len(table._resolved) == 3
    assert len(caplog.records) == 3
