"""The documentation stays short, linked and complete.

The README fits a few screens; every relative link in the Markdown pages reaches a file, and
every ``#anchor`` a heading (GitHub's slug) or an ``<a id="...">`` of that file; every setting
the service reads is named in ``.env.example`` and in ``docs/settings.md``.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from starkrelay.core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 200
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "bench" / "README.md",
        ROOT / "deploy" / "README.md",
        ROOT / "src" / "starksandbox" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]
)

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
EXPLICIT_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"", re.IGNORECASE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:


def without_code(markdown: str) -> str:
    """The text a reader sees as prose: fenced blocks and code spans removed."""
    return CODE_SPAN.sub("``", FENCE.sub("", markdown))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces as '-'."""
    text = re.sub(r"<[^>]+>", "", heading)  # inline HTML
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link keeps its text
    text = text.lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    text = page.read_text(encoding="utf-8")
    found: set[str] = set(EXPLICIT_ANCHOR.findall(text))
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCE.sub("", text)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")  # GitHub numbers repeats
    return frozenset(found)


def relative_links(page: Path) -> list[str]:
    targets = LINK.findall(without_code(page.read_text(encoding="utf-8")))
    return [target for target in targets if not EXTERNAL.match(target)]


def test_readme_fits_a_few_screens() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines, at most {README_MAX_LINES} expected: "
        "move reference material to docs/ and link it"
    )


def test_slug_matches_github() -> None:
    assert slug("Control endpoints (outside `/v2`, unauthenticated)") == (
        "control-endpoints-outside-v2-unauthenticated"
    )
    assert slug("Metrics, logs, alarms and dead letters") == "metrics-logs-alarms-and-dead-letters"
    assert slug("scripts/demo") == "scriptsdemo"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    assert page.exists(), f"{page.relative_to(ROOT)} is missing"
    broken: list[str] = []
    for target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no file {destination.relative_to(ROOT)}")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading or <a id> '{anchor}' in {destination.name}")
    assert not broken, f"{page.relative_to(ROOT)} has broken links:\n" + "\n".join(broken)


def setting_names() -> list[str]:
    """Environment names of every setting: the field name upper-cased (no aliases, no prefix)."""
    names = []
    for name, field in Settings.model_fields.items():
        unexpected = f"{name} has an alias; teach this test how settings.py maps it"
        assert field.alias is None, unexpected
        assert field.validation_alias is None, unexpected
        names.append(name.upper())
    return names


@pytest.mark.parametrize("document", [".env.example", "docs/settings.md"])
def test_every_setting_is_documented(document: str) -> None:
    assert Settings.model_config.get("env_prefix", "") == ""
    text = (ROOT / document).read_text(encoding="utf-8")
    missing = [name for name in setting_names() if not re.search(rf"\b{name}\b", text)]
    assert not missing, f"{document} does not name: {', '.join(missing)}"
