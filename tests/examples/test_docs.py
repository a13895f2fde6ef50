"""The parts of the documentation build that can rot without MkDocs installed: the generated settings
reference, the navigation and the links between pages. `nox -s docs` builds the site itself."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

from llmtrace.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
spec = importlib.util.spec_from_file_location("settings_reference", DOCS / "hooks" / "settings_reference.py")
assert spec is not None and spec.loader is not None
reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference)


def nav_pages() -> list[str]:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    return [page for item in config["nav"] for page in item.values()]


def test_settings_reference_has_every_field_with_its_variable_and_default():
    text = reference.render()
    for name in Settings.model_fields:
        assert f"### `{name}` {{#{name}}}" in text
        row = next(line for line in text.splitlines() if line.startswith(f"| [`{name}`]"))
        assert f"`LLMTRACE_{name.upper()}`" in row or "keyword argument only" in row, row
    assert "| [`capture_content`](#capture_content) | `LLMTRACE_CAPTURE_CONTENT` | `False` |" in text
    section = text[text.index("### `max_content_length`") :]
    assert "- Type: `int` (≥ 64)" in section.split("###")[1]
    assert "(no docstring)" not in text, "a setting has no docstring"


def test_settings_reference_replaces_its_marker_only():
    page = "# Configuration\n\n<!-- settings-reference -->\n"
    assert "<!--" not in reference.on_page_markdown(page)
    assert reference.on_page_markdown("# Other\n") == "# Other\n"


def test_every_page_is_in_the_navigation_and_every_entry_exists():
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.glob("*.md")}
    nav = nav_pages()
    assert sorted(pages - set(nav)) == [], "pages missing from mkdocs.yml nav"
    assert sorted(set(nav) - pages) == [], "nav entries without a page"


def test_relative_links_point_at_pages_that_exist():
    broken = []
    for page in DOCS.glob("*.md"):
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
        text = re.sub(r"`[^`\n]*`", "", text)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            path = target.split("#", 1)[0]
            if re.match(r"[a-z]+://", target) or not path:
                continue
            if not (page.parent / path).resolve().is_relative_to(DOCS) or not (page.parent / path).exists():
                broken.append(f"{page.name}: {target}")
    assert broken == [], "mkdocs --strict rejects links outside docs/ or to missing files"
