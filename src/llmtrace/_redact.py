"""What llmtrace must not leak.

Credentials are scrubbed from the free text llmtrace records (exception messages and stack traces, its
own log lines) whatever the settings. Captured content (content capture on) reaches a span through one
function, `content_attributes`: every string in it goes through the built-in PII scrubbers and the
application's redaction hook, is clipped to ``max_content_length``, and the content attributes of one span
share a total of ``max_span_content_length`` characters. Nothing here runs while capture is off.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from llmtrace import _semconv as sc

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

    from llmtrace.config import Settings

REDACTED = "[REDACTED]"

# --- credentials in free text ---------------------------------------------------------------------

_NAMES = ("key", "token", "secret", "password", "passwd", "credential", "signature", "authorization")
_CREDENTIAL = re.compile(
    # every alternative starts a word: one cheap look-behind rejects most positions (error texts are long)
    r"(?<![\w+/=.\-])(?:"
    # userinfo of a URL: scheme://user:password@host
    r"(?P<url>[A-Za-z][A-Za-z0-9+.\-]*://)[^\s/?#@'\"<>]+@"
    # key=value / "key": "value" / header: value, for names ending like a credential
    r"|(?P<name>(?i:[\w\-]+(?:" + "|".join(f"(?<={n})" for n in _NAMES) + r")))"
    r"(?P<sep>[\"']?\s*[:=]\s*[\"']?)(?i:(?:bearer|basic)\s+)?[^\s\"',;&}\])]+"
    # an Authorization header value on its own
    r"|(?P<scheme>(?i:bearer|basic)\s+)[A-Za-z0-9._~+/=\-]{8,}"
    # keys with a known shape: OpenAI and Anthropic, Groq, Google, AWS key ids, Hugging Face, GitHub, JWTs
    r"|sk-[A-Za-z0-9_\-*]{6,}|gsk_[A-Za-z0-9]{16,}|AIza[0-9A-Za-z_\-]{30,}"
    r"|(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b|hf_[A-Za-z0-9]{30,}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"
    # an opaque token: 32+ base64 characters (checked below: digits, upper and lower case letters)
    r"|(?P<opaque>[A-Za-z0-9+/]{32,}={0,2}(?![\w+/=\-]))"
    r")"
)


def _credential(match: re.Match[str]) -> str:
    if match.group("url"):
        return match.group("url") + REDACTED + "@"
    if match.group("name"):
        return match.group("name") + match.group("sep") + REDACTED
    if match.group("scheme"):
        return match.group("scheme") + REDACTED
    token = match.group("opaque")
    if token and not (any(c.isdigit() for c in token) and token.lower() != token != token.upper()):
        return token  # a word, a path or a hex digest: random keys mix digits and both cases
    return REDACTED


def credentials(text: str) -> str:
    """`text` with anything shaped like a credential replaced by ``[REDACTED]``: URL userinfo, values of
    key/token/secret/password/authorization fields, bearer tokens, keys of known shapes (OpenAI,
    Anthropic, Groq, Google, AWS key ids...) and opaque random tokens of 32+ characters."""
    return _CREDENTIAL.sub(_credential, text)


class CredentialFilter(logging.Filter):
    """Scrubs credentials from the ``llmtrace`` logger's records: message, exception text and stack.

    ``exc_info`` is kept (handlers that format it themselves bypass this); the standard formatter uses
    the scrubbed ``exc_text`` set here.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            clean = credentials(message)
            if clean != message:
                record.msg, record.args = clean, None
            if record.exc_info and not record.exc_text:
                record.exc_text = credentials(logging.Formatter().formatException(record.exc_info))
            if record.stack_info:
                record.stack_info = credentials(record.stack_info)
        except Exception:  # a record that cannot be formatted: the handler reports it as usual
            pass
        return True


# --- built-in scrubbers for personal data --------------------------------------------------------

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\d.\-])\d(?:[ \-]?\d){12,18}(?![\d\-]|\.\d)")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{8,15}|(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{1,5}(?:[ .\-]\d{1,5}){0,5})"
    r"(?![\w\-]|\.\d)"
)
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def luhn(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check (as payment card numbers do)."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = ord(char) - 48
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    text = match.group()
    return "[card]" if luhn(re.sub(r"\D", "", text)) else text


def _phone(match: re.Match[str]) -> str:
    text = match.group()
    digits = sum(c.isdigit() for c in text)
    # 9 to 15 digits (E.164), written as a phone number is: with a +, parentheses or separators;
    # a bare run of digits (an id, a timestamp) and a dotted IPv4 address are left alone
    written = text.startswith("+") or "(" in text or any(c in text for c in " .-")
    if 9 <= digits <= 15 and written and not _IPV4.fullmatch(text):
        return "[phone]"
    return text


def scrub_email(text: str) -> str:
    """Email addresses -> ``[email]``."""
    return _EMAIL.sub("[email]", text) if "@" in text else text


def scrub_card(text: str) -> str:
    """Payment card numbers (13-19 digits, spaces or dashes allowed, Luhn-valid) -> ``[card]``."""
    return _CARD.sub(_card, text)


def scrub_phone(text: str) -> str:
    """Phone numbers (9-15 digits with a leading +, parentheses or separators) -> ``[phone]``."""
    return _PHONE.sub(_phone, text)


SCRUBBERS: dict[str, Callable[[str], str]] = {
    # cards before phones: a spaced card number also looks like a long phone number
    "card": scrub_card,
    "email": scrub_email,
    "phone": scrub_phone,
    "secret": credentials,
}
"""The built-in scrubbers ``scrub=`` can name, in the order they run."""


# --- captured content -----------------------------------------------------------------------------

JSON_KEYS = frozenset(
    {
        sc.GEN_AI_INPUT_MESSAGES,
        sc.GEN_AI_OUTPUT_MESSAGES,
        sc.GEN_AI_SYSTEM_INSTRUCTIONS,
        sc.GEN_AI_TOOL_DEFINITIONS,
        sc.GEN_AI_TOOL_CALL_ARGUMENTS,
        sc.GEN_AI_TOOL_CALL_RESULT,
        sc.GEN_AI_RETRIEVAL_DOCUMENTS,
    }
)
"""Content attributes holding one JSON document."""
TEXT_KEYS = frozenset({sc.GEN_AI_RETRIEVAL_QUERY_TEXT})
"""Content attributes holding plain text (and the ``gen_ai.prompt.variable.*`` family)."""

TRUNCATED = "…[truncated]"
_MARGIN = 256
"""Characters past the clip point a scrubber still sees, so a match cut in two is still found."""
_FAILED = "[redaction failed]"
_SCHEMA = frozenset({"type", "role", "finish_reason", "modality", "mime_type"})
_WORD = re.compile(r"[a-z_]{1,40}(?:/[a-z0-9.+\-]{1,60})?")
"""The GenAI JSON schema's vocabulary under `_SCHEMA` keys ("text", "user", "tool_call", "image/png"),
which the scrubbers and the hook leave alone so the document keeps its meaning; never personal data."""


def is_content(key: str) -> bool:
    """Whether attribute `key` holds captured content."""
    return key in JSON_KEYS or key in TEXT_KEYS or key.startswith(sc.GEN_AI_PROMPT_VARIABLE_PREFIX)


_CONTENT_KEYS = JSON_KEYS | TEXT_KEYS


def content_size(attributes: Mapping[str, Any] | None) -> int:
    """Characters of content among `attributes` (a dict, or a span's attributes)."""
    if not attributes:
        return 0
    total = 0
    # is_content, inlined: a call per key would cost more than the check
    keys, prefix = _CONTENT_KEYS, sc.GEN_AI_PROMPT_VARIABLE_PREFIX
    for key, value in attributes.items():
        if key in keys or key.startswith(prefix):
            if type(value) is str:
                total += len(value)
            elif isinstance(value, (list, tuple)):
                total += sum(len(str(v)) for v in value)
            else:
                total += len(str(value))
    return total


class Policy:
    """The content settings, resolved once per `Settings`: the string cleaner and the size caps."""

    __slots__ = ("clean", "limit", "span_limit")

    def __init__(self, settings: Settings) -> None:
        self.limit = settings.max_content_length
        self.span_limit = settings.max_span_content_length
        steps = [SCRUBBERS[name] for name in SCRUBBERS if name in settings.scrub]
        if settings.redact is not None:
            steps.append(settings.redact)
        self.clean = _cleaner(steps) if steps else None

    def prepare(self, value: Any, state: list[bool]) -> Any:
        """`value` with every string cleaned and clipped (objects become their ``str``)."""
        return _clip(value, self.limit, self.clean, state)

    def fit(self, tree: Any, total: int, state: list[bool], text: str | None = None) -> str | None:
        """The JSON of a prepared `tree` (`text`, when already known) in at most `total` characters
        (None: not even a marker fits): oldest list items go first, then strings are clipped shorter."""
        if text is None:
            text = _dumps(tree)
        if len(text) <= total:
            return text
        state[0] = True
        items = list(tree) if isinstance(tree, list) else None
        if items is not None:
            dropped = 0
            while len(text) > total and len(items) > 1:
                items.pop(0)
                dropped += 1
                text = _dumps([_omitted(dropped), *items])
            tree = [_omitted(dropped), *items] if dropped else items
        limit = self.limit
        while len(text) > total and limit > 16:
            limit //= 4
            text = _dumps(_clip(tree, limit, None, state))
        if len(text) > total:
            text = _dumps([_omitted(len(items))] if items is not None else TRUNCATED)
        return text if len(text) <= total else None


def _omitted(count: int) -> dict[str, Any]:
    return {"role": "llmtrace", "parts": [{"type": "text", "content": f"[{count} earlier omitted]"}]}


class _Probe:
    def __str__(self) -> str:
        return "probe ü"


def _encoder() -> Callable[[Any], str]:
    """``json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))``, built once.

    json.dumps builds a new encoder on every call and its Python layers cost as much as encoding a
    short conversation; the C encoder it ends in is built here once, without the circular-reference
    check (a self-referencing value then raises RecursionError, not ValueError). Used only if it
    encodes a probe exactly as the standard encoder does, else the standard encoder's ``encode``."""
    standard = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":")).encode
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C encoder (another Python implementation)
        return standard
    try:
        encode = make(None, str, json.encoder.encode_basestring, None, ":", ",", False, False, True)
        probe = [{"k\n": 'ü\t"\\\x00', 1: [2.5, None, True, -0.0, float("nan"), _Probe()]}, (), {}]
        if "".join(encode(probe, 0)) != standard(probe):
            return standard
    except Exception:  # another signature
        return standard

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


_dumps = _encoder()


def _cleaner(steps: list[Callable[[str], str]]) -> Callable[[str], str]:
    def clean(text: str) -> str:
        for step in steps:
            text = step(text)
            if not isinstance(text, str):
                raise TypeError(f"the redact hook returned {type(text).__name__}, not str")
        return text

    return clean


def _clip(node: Any, limit: int, clean: Callable[[str], str] | None, state: list[bool]) -> Any:
    # Module-level (not a closure): a recursive closure is a reference cycle per call for the GC.
    if isinstance(node, str):
        if clean is not None:
            try:
                node = clean(node[: limit + _MARGIN])
            except Exception:
                from llmtrace._safety import internal_error  # (_safety imports this module)

                internal_error("redact")  # fails closed: the text is never recorded unredacted
                node = _FAILED
        if len(node) > limit:
            state[0] = True
            return node[:limit] + TRUNCATED
        return node
    if isinstance(node, dict):
        return {
            k: v if k in _SCHEMA and _vocabulary(v) else _clip(v, limit, clean, state)
            for k, v in node.items()
        }
    if isinstance(node, (list, tuple)):
        return [_clip(v, limit, clean, state) for v in node]
    if node is None or isinstance(node, (bool, int, float)):
        return node
    return _clip(str(node), limit, clean, state)


_WORDS: dict[str, bool] = {}
"""`_vocabulary`'s answers: the same few values ("text", "user", "stop") come in every document."""


def _vocabulary(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 101:  # (the longest `_WORD`)
        return False
    known = _WORDS.get(value)
    if known is None:
        known = _WORD.fullmatch(value) is not None
        if len(_WORDS) < 1024 and type(value) is str:  # bounded: the values come from the application
            _WORDS[value] = known
    return known


_last: tuple[Any, Policy | None] = (None, None)


def policy(settings: Settings) -> Policy:
    """The `Policy` of `settings` (built once per settings object)."""
    global _last
    cached_for, cached = _last
    if cached_for is settings and cached is not None:
        return cached
    built = Policy(settings)
    _last = (settings, built)
    return built


def content_attributes(
    content: Mapping[str, Any], settings: Settings, present: Mapping[str, Any] | int | None = None
) -> dict[str, AttributeValue]:
    """The one way captured content reaches a span: `content` (attribute name -> messages, parts,
    arguments, text...; None and empty lists are skipped) as attributes, each string cleaned (scrubbers,
    then the redact hook) and clipped, each JSON document at most 4x ``max_content_length``, and all of
    them within what ``max_span_content_length`` leaves after the content already `present` on the span
    (its attributes, or their size in characters when the caller keeps count: `content_size`).
    ``llmtrace.content.truncated`` is set when anything was cut or left out.

    JSON-valued attributes given as a string are parsed first (a tool's JSON result, a framework's
    arguments), so the hook sees the strings inside and the result stays valid JSON.
    """
    rules = policy(settings)
    budget = rules.span_limit - (present if isinstance(present, int) else content_size(present))
    out: dict[str, AttributeValue] = {}
    state = [False]
    for key, value in content.items():
        if value is None or (isinstance(value, (list, tuple)) and not value):
            continue
        text: AttributeValue | None
        if key in JSON_KEYS:
            tree = _parsed(value) if isinstance(value, str) else value
            whole = None
            if rules.clean is None:
                # No string in a document is longer than the document: when all of it fits one
                # string's limit (and the budget), clipping string by string would change nothing.
                whole = _dumps(tree)
                size = len(whole)
                if size <= rules.limit and size <= budget:
                    out[key] = whole
                    budget -= size
                    continue
            clipped = [False]
            prepared = rules.prepare(tree, clipped)
            if clipped[0]:  # a string was clipped: the document is not the one dumped
                whole = None
                state[0] = True
            text = rules.fit(prepared, min(4 * rules.limit, budget), state, whole)
            size = len(text) if text is not None else 0
        else:
            text, size = _text(rules, value, budget, state)
        if text is None:
            state[0] = True
            continue
        out[key] = text
        budget -= size
    if state[0]:
        out[sc.LLMTRACE_CONTENT_TRUNCATED] = True
    return out


def _parsed(value: Any) -> Any:
    """A JSON document given as its text, parsed; anything else as is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _text(rules: Policy, value: Any, budget: int, state: list[bool]) -> tuple[AttributeValue | None, int]:
    """A plain-text attribute (a string, or a list of scalars) within `budget` characters."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, bool, int, float)) for v in value):
        items = [rules.prepare(v, state) for v in value]
        size = sum(len(str(v)) for v in items)
        return (items, size) if size <= budget else (None, 0)
    if isinstance(value, (bool, int, float)):
        return value, len(str(value))
    text = rules.prepare(value if isinstance(value, str) else str(value), state)
    if len(text) > budget:
        state[0] = True
        keep = budget - len(TRUNCATED)
        if keep < 1:
            return None, 0
        text = text[:keep] + TRUNCATED
    return text, len(text)
