"""MkDocs hook: renders the configuration reference from the Settings model, so it never goes stale.

A page containing ``<!-- settings-reference -->`` gets, in its place, one section per field of
`llmtrace.config.Settings` (name, environment variable, type, default, docstring), then the keyword
arguments only `llmtrace.instrument()` takes.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap
import types
import typing
from pathlib import Path
from typing import Any

MARKER = "<!-- settings-reference -->"
_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is type(None):
        return "None"
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if isinstance(tp, list):  # the parameters of a Callable
        return "[" + ", ".join(_type_name(a) for a in tp) + "]"
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else _type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return getattr(tp, "__name__", str(tp))


def _rst_to_md(text: str) -> str:
    return " ".join(text.replace("``", "`").split())


def attribute_docstrings(cls: type) -> dict[str, str]:
    """Field name -> the string literal written right below it in the class body."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
    assert isinstance(body, ast.ClassDef)
    docs: dict[str, str] = {}
    for node, after in zip(body.body, body.body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = _rst_to_md(inspect.cleandoc(after.value.value))
    return docs


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.is_required():
        return "required"
    else:
        value = field.default
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Path):
        return json.dumps(str(value))
    return repr(value)


def _bounds(field: Any) -> str:
    found = [
        f"{sign} {getattr(m, name)}" for m in field.metadata for name, sign in _BOUNDS if hasattr(m, name)
    ]
    return f" ({', '.join(found)})" if found else ""


def _arg_docs(docstring: str) -> dict[str, str]:
    """The ``Args:`` section of a Google-style docstring: name -> description."""
    args: dict[str, str] = {}
    section = re.search(r"^Args:\n((?:[ \t]+.*\n?|\n)+)", inspect.cleandoc(docstring), re.MULTILINE)
    if section is None:
        return args
    name = None
    for line in textwrap.dedent(section.group(1)).splitlines():
        item = re.match(r"(\*{0,2}\w+): (.*)", line)
        if item:
            name = item.group(1)
            args[name] = item.group(2)
        elif name and line.strip():
            args[name] += " " + line.strip()
    return {k: _rst_to_md(v) for k, v in args.items()}


def _environment(config: Any, name: str, variable: str) -> str:
    """The variable, if `load_settings` reads it: setting it either changes the field or is rejected."""
    try:
        loaded = config.load_settings({}, environ={variable: "x"})
    except config.ConfigError:
        return f"`{variable}`"
    if getattr(loaded, name) != getattr(config.Settings(), name):
        return f"`{variable}`"
    return "none (a keyword argument only)"


def render() -> str:
    """The reference as Markdown: a summary table, then one section per setting."""
    from llmtrace import config
    from llmtrace._setup import instrument

    fields = config.Settings.model_fields
    docs = attribute_docstrings(config.Settings)
    prefix = getattr(config, "_ENV_PREFIX", "LLMTRACE_")
    env = {n: _environment(config, n, prefix + n.upper()) for n in fields}
    lines = ["| setting | environment variable | default |", "| --- | --- | --- |"]
    lines += [f"| [`{n}`](#{n}) | {env[n]} | `{_default(f)}` |" for n, f in fields.items()]
    for name, field in fields.items():
        lines += [
            "",
            f"### `{name}` {{#{name}}}",
            "",
            docs.get(name, "(no docstring)"),
            "",
            f"- Type: `{_type_name(field.annotation)}`{_bounds(field)}",
            f"- Default: `{_default(field)}`",
            f"- Environment: {env[name]}",
        ]
    args = _arg_docs(instrument.__doc__ or "")
    only_kwargs = [
        p for p in inspect.signature(instrument).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in fields
    ]  # fmt: skip
    if only_kwargs:
        lines += ["", "## Arguments of `instrument()` only", "", "These have no environment variable.", ""]
        lines += [f"- `{p.name}`: {args.get(p.name, '(undocumented)')}" for p in only_kwargs]
    return "\n".join(lines) + "\n"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Put the generated reference where the marker is."""
    return markdown.replace(MARKER, render()) if MARKER in markdown else markdown
