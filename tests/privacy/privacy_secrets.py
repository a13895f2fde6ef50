"""Distinctive credentials for every provider, and the two ways an application hands them to an SDK.

``supply(monkeypatch, "constructor")`` makes every SDK client the tests build receive its provider's key,
a base URL with a user and password in it, and ``api-key`` / ``x-api-key`` / ``Authorization: Bearer``
headers, as keyword arguments (the test helpers pass ``api_key="test"``; the keyword arguments are
swapped on the way into the real constructor). ``supply(monkeypatch, "environment")`` drops those
arguments and puts the keys and URLs in the variables each SDK reads instead. Both set the AWS
credentials boto3 signs with. Every value is shaped like the real thing (prefix, length, alphabet).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import pytest

# key given to the constructor, key in the environment, per provider
KEYS: dict[str, tuple[str, str]] = {
    "openai": ("sk-proj-Qz7Kp2Lm9Tr4Bn8Cw1Yh6Dk3Fj5Sa0GeX", "sk-proj-Ev9Yt3Mn7Bv2Cx8Zq4Lw1Rp6Kh5Dj0FaS"),
    "anthropic": (
        "sk-ant-api03-Ak8Lm2Nq7Zp4Xr9Tb1Wc6Yd3Fe5Gh0Jk-AbCdEf",
        "sk-ant-api03-Zt5Rq8Pw2Mn7Lk4Jh9Gf1Dd6Sa3Bq0Cx-EnVaRs",
    ),
    "groq": ("gsk_Gq4Rk8Tp2Lm7Zx9Nb3Cv6Yw1Hd5Fj0SaQeRtYu", "gsk_Ev7Nm2Bq9Lk4Zp8Xr1Tc6Wy3Fd5Gh0JaSdFgHj"),
    "cohere": ("Co7Hx2Rq9Lm4Zt8Bn1Wc6Yd3Fk5Gj0PaSeQrTyUi", "En4Vc9Xz2Lq7Mp1Rt8Bn6Wd3Yf5Gh0KaSjDkFlGh"),
    "mistralai": ("Mi7Sx2Tq9Lr4Za8Bn1Wc6Yd3Fk5Gj0Pq", "Ev2Mq7Lk9Zp4Xr1Tb8Wc6Yd3Fe5Gh0Jm"),
    "google_genai": ("AIzaSyPk7Lm2Nq9Zx4Tr8Bn1Wc6Yd3Fe5Gh0JkQ", "AIzaSyEv4Nm9Bq2Lk7Zp1Xr8Tc6Wy3Fd5Gh0JaS"),
}
ACCESS_KEY = ("AKIAQX7ZP2LM9TR4BN8C", "ASIAEV9YT3MN7BV2CX8Z")
SECRET_KEY = ("Aw7Kp2Lm9Tr4Bn8Cw1Yh6Dk3Fj5Sa0Ge/Qz+XyVb", "Ew9Yt3Mn7Bv2Cx8Zq4Lw1Rp6Kh5Dj0Fa/Sx+VbNm")
SESSION_TOKEN = (
    "IQoJb3JpZ2luX2VjEJr7Kp2Lm9Tr4Bn8Cw1Yh6Dk3Fj5Sa0GeQzXyVbNm8Lk2Jh7Gf4Ds1Aq9Zw3Ex6Rc5Tv0Yb2Un8Im4Ok",
    "FwoGZXIvYXdzEEv9Yt3Mn7Bv2Cx8Zq4Lw1Rp6Kh5Dj0FaSdFgHjKl8Mn2Bv7Cx4Zq1Lw9Rp3Kh6Dj5Fa0Sd2Fg8Hj4Kl",
)
PASSWORD = "Pw7Url2Qm9Zx4Lp8Tr"
"""The password in every base URL (``https://svc-user:<PASSWORD>@host``)."""
HEADERS = {
    "api-key": "hdr7Kp2Lm9Tr4Bn8Cw1Yh6Dk3Fj5Sa0ApiKey",
    "x-api-key": "hdr4Ev9Yt3Mn7Bv2Cx8Zq1Lw6Rp5Kh0XApiKey",
    "Authorization": "Bearer tok9Qz7Kp2Lm4Tr8Bn1Cw6Yh3Dk5Fj0Bearer",
}
BEARER_TOKEN = HEADERS["Authorization"].split()[1]


HELD: set[str] = set()
"""The keys the SDK clients built under `supply` hold (their ``api_key``): the keys did reach them."""


def every_secret() -> list[str]:
    """Every credential value a test supplies (both modes), as it must never appear."""
    keys = [key for pair in KEYS.values() for key in pair]
    return [*keys, *ACCESS_KEY, *SECRET_KEY, *SESSION_TOKEN, PASSWORD, *HEADERS.values(), BEARER_TOKEN]


def with_password(url: str) -> str:
    """`url` with ``svc-user:<PASSWORD>@`` before its host."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://svc-user:{PASSWORD}@{rest}"


def leaky_error_body() -> dict[str, Any]:
    """An error response echoing every credential (the worst a provider or proxy could send back)."""
    keys = " ".join(key for pair in KEYS.values() for key in pair)
    return {
        "error": {
            "message": f"Incorrect API key provided: {keys}. Upstream {with_password('https://proxy.internal/v1')}"
            f" refused x-api-key: {HEADERS['x-api-key']}, Authorization: {HEADERS['Authorization']},"
            f" credentials {ACCESS_KEY[0]} {SECRET_KEY[0]} {SESSION_TOKEN[0]} {ACCESS_KEY[1]} {SECRET_KEY[1]}"
            f" {SESSION_TOKEN[1]}",
            "type": "authentication_error",
            "api-key": HEADERS["api-key"],
        }
    }


# --- how each SDK is given them -------------------------------------------------------------------

# provider -> (module, client classes, key argument, URL argument, default URL, key variable, URL variable)
_CLIENTS: dict[str, tuple[str, tuple[str, ...], str, str | None, str, str, str | None]] = {
    "openai": ("openai", ("OpenAI", "AsyncOpenAI"), "api_key", "base_url", "https://api.openai.com/v1",
               "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    "anthropic": ("anthropic", ("Anthropic", "AsyncAnthropic"), "api_key", "base_url", "https://api.anthropic.com",
                  "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
    "groq": ("groq", ("Groq", "AsyncGroq"), "api_key", "base_url", "https://api.groq.com", "GROQ_API_KEY",
             "GROQ_BASE_URL"),
    "cohere": ("cohere", ("ClientV2", "AsyncClientV2", "Client", "AsyncClient"), "api_key", "base_url",
               "https://api.cohere.com", "CO_API_KEY", None),
    "mistralai": ("mistralai.client", ("Mistral",), "api_key", "server_url", "https://api.mistral.ai",
                  "MISTRAL_API_KEY", None),
    "google_genai": ("google.genai", ("Client",), "api_key", None, "", "GOOGLE_API_KEY", None),
}  # fmt: skip
_HEADER_ARGUMENT = {"openai": "default_headers", "anthropic": "default_headers", "groq": "default_headers"}
_OWN_HEADER = {"openai": "Authorization", "groq": "Authorization", "anthropic": "x-api-key"}
"""The header each SDK sends its key in (left to the SDK: a default header would replace it)."""


def _swap(provider: str, mode: str, kwargs: dict[str, Any]) -> None:
    _, _, key_arg, url_arg, url, _, url_var = _CLIENTS[provider]
    if kwargs.get("vertexai"):
        return  # Vertex AI clients authenticate with credentials objects, not keys
    if mode == "environment":
        kwargs.pop(key_arg, None)
        if url_var is not None:
            kwargs.pop(url_arg, None)
    else:
        kwargs[key_arg] = KEYS[provider][0]
        if url_arg is not None:
            kwargs[url_arg] = with_password(kwargs.get(url_arg) or url)
    header_arg = _HEADER_ARGUMENT.get(provider)
    if header_arg is not None:
        headers = {k: v for k, v in HEADERS.items() if k != _OWN_HEADER.get(provider)}
        kwargs[header_arg] = {**(kwargs.get(header_arg) or {}), **headers}
    if provider == "google_genai":
        options = dict(kwargs.get("http_options") or {})
        options["headers"] = {**options.get("headers", {}), **HEADERS}
        options["base_url"] = with_password("https://generativelanguage.googleapis.com/")
        kwargs["http_options"] = options


def _wrap_init(monkeypatch: pytest.MonkeyPatch, cls: type, change: Callable[[dict[str, Any]], None]) -> None:
    original = cls.__init__

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        change(kwargs)
        original(self, *args, **kwargs)
        key = getattr(self, "api_key", None)
        if isinstance(key, str):
            HELD.add(key)

    monkeypatch.setattr(cls, "__init__", init)


def supply(monkeypatch: pytest.MonkeyPatch, mode: str, providers: list[str]) -> None:
    """Hand every credential above to the SDKs of `providers`, by `mode` ("constructor" or
    "environment"); the environment variables are set in both modes."""
    for provider, (module, classes, _, _, url, key_var, url_var) in _CLIENTS.items():
        monkeypatch.setenv(key_var, KEYS[provider][1])
        if url_var is not None:
            monkeypatch.setenv(url_var, with_password(url))
        if provider not in providers:
            continue
        if provider == "mistralai":
            import replay_mistralai

            sdk = replay_mistralai.sdk_module()
        else:
            sdk = importlib.import_module(module)
        for name in classes:
            _wrap_init(monkeypatch, getattr(sdk, name), functools.partial(_swap, provider, mode))
    monkeypatch.setenv("OLLAMA_HOST", with_password("http://127.0.0.1:11434"))
    if "ollama" in providers:
        import ollama

        def ollama_change(kwargs: dict[str, Any]) -> None:
            if mode == "constructor":
                kwargs["host"] = with_password(kwargs.get("host") or "http://127.0.0.1:11434")
            else:
                kwargs.pop("host", None)
            kwargs["headers"] = HEADERS

        for cls in (ollama.Client, ollama.AsyncClient):
            _wrap_init(monkeypatch, cls, ollama_change)
    if "litellm" in providers:
        _litellm(monkeypatch, mode)
    _aws(monkeypatch, mode, "bedrock" in providers)


def _litellm(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """LiteLLM takes the key per call: the replayed calls (routed to Anthropic) get it, or read it from
    ``ANTHROPIC_API_KEY``."""
    import replay_litellm

    for name in ("run", "stream"):
        original = getattr(replay_litellm, name)

        def keyed(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            if mode == "environment":
                kwargs.pop("api_key", None)
            else:
                kwargs["api_key"] = KEYS["anthropic"][0]
            return _original(*args, **kwargs)

        monkeypatch.setattr(replay_litellm, name, keyed)


def _aws(monkeypatch: pytest.MonkeyPatch, mode: str, installed: bool) -> None:
    index = 1 if mode == "environment" else 0
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY[1])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY[1])
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN[1])
    if not installed:
        return
    import boto3

    import replay_bedrock

    # the replayed clients share one session: this one has the keys of `mode` (from the environment,
    # where boto3 reads them itself, or given to it)
    explicit = {} if mode == "environment" else {
        "aws_access_key_id": ACCESS_KEY[index],
        "aws_secret_access_key": SECRET_KEY[index],
        "aws_session_token": SESSION_TOKEN[index],
    }  # fmt: skip
    session = boto3.session.Session(region_name=replay_bedrock.REGION, **explicit)
    assert session.get_credentials().access_key == ACCESS_KEY[index]
    monkeypatch.setattr(replay_bedrock, "_SESSION", [session])
