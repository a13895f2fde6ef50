"""Token counts for calls whose provider reported none (e.g. OpenAI streams without include_usage).

tiktoken encodings are loaded once, lazily, and only from local files: a missing file is fetched on a
background thread (once), never on the caller's. Until an encoding is available, or for models whose
tokenizer is unknown, counts are a documented estimate of one token per four characters. Every count
made here is reported with ``llmtrace.usage.estimated=true`` and the tokenizer used.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable
from typing import Any

from llmtrace._safety import log

CHARS_PER_TOKEN = 4
ESTIMATE = "chars/4"
"""The tokenizer name reported for the character-based estimate."""

# Longest prefix first. Models not listed get the estimate rather than a wrong tokenizer's count.
_ENCODINGS = (
    ("chatgpt-4o", "o200k_base"),
    ("gpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"),
    ("text-embedding-ada-002", "cl100k_base"),
    ("davinci-002", "cl100k_base"),
    ("babbage-002", "cl100k_base"),
)
_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"

# OpenAI's documented chat framing: each message costs 3 tokens plus its role; the reply is primed with 3.
MESSAGE_OVERHEAD = 4
REPLY_OVERHEAD = 3

_lock = threading.Lock()
_loaded: dict[str, Any] = {}
_failed: set[str] = set()
_loading: set[str] = set()
allow_download = True
"""Whether a missing encoding file may be fetched (on a background thread). Tests turn this off."""


def encoding_name(model: str | None) -> str | None:
    """The tiktoken encoding of `model`, or None when it is not an OpenAI model we know."""
    if not model:
        return None
    name = model.lower().rsplit("/", 1)[-1]
    for prefix, encoding in _ENCODINGS:
        if name == prefix or name.startswith((prefix + "-", prefix + ":")):
            return encoding
    return None


def _cache_path(encoding: str) -> str:
    # Where tiktoken itself looks (tiktoken/load.py: read_file_cached).
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if cache_dir is None:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return os.path.join(cache_dir, hashlib.sha1(_URL.format(encoding).encode()).hexdigest())


def _load(encoding: str) -> None:
    try:
        import tiktoken

        value = tiktoken.get_encoding(encoding)
    except Exception:
        log.debug("llmtrace: tiktoken encoding %s unavailable; estimating", encoding, exc_info=True)
        with _lock:
            _failed.add(encoding)
            _loading.discard(encoding)
        return
    with _lock:
        _loaded[encoding] = value
        _loading.discard(encoding)


def get_encoding(encoding: str) -> Any:
    """The loaded encoding, or None while it is unavailable (never blocks on the network)."""
    value = _loaded.get(encoding)
    if value is not None or encoding in _failed:
        return value
    with _lock:
        if encoding in _loading or encoding in _loaded or encoding in _failed:
            return _loaded.get(encoding)
        _loading.add(encoding)
    if os.path.exists(_cache_path(encoding)):
        _load(encoding)  # local file: parse it now (we are on llmtrace's worker thread)
    elif allow_download:
        threading.Thread(target=_load, args=(encoding,), name="llmtrace-tiktoken", daemon=True).start()
    else:
        with _lock:
            _failed.add(encoding)
            _loading.discard(encoding)
    return _loaded.get(encoding)


def count_tokens(texts: Iterable[str], model: str | None) -> tuple[int, str]:
    """(token count of `texts`, tokenizer used): tiktoken for known OpenAI models, else the estimate."""
    name = encoding_name(model)
    encoding = get_encoding(name) if name is not None else None
    if encoding is None:
        return sum(-(-len(t) // CHARS_PER_TOKEN) for t in texts), ESTIMATE
    return sum(len(encoding.encode(t, disallowed_special=())) for t in texts), str(name)


def count_chat(messages: list[str], model: str | None) -> tuple[int, str]:
    """Prompt tokens of a chat request whose messages have these texts, framing included."""
    count, tokenizer = count_tokens(messages, model)
    return count + MESSAGE_OVERHEAD * len(messages) + REPLY_OVERHEAD, tokenizer
