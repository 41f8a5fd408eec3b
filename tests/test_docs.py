"""The user documentation: README.md, docs/*.md, benchmarks/README.md and examples/README.md.

Pinned: every relative link (and its #anchor) points at something that
exists; the README stays a page for users (at most 250 lines) and keeps the
two set-up commands that `.ci/run` reads; the pages name their sources by
title and author, and speak of the project, not of how it was made.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md", ROOT / "examples" / "README.md"]
README_MAX_LINES = 250

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", flags=re.M | re.S)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", flags=re.M)
DIARY = re.compile(r"this session|earlier sessions?|previous session|next session|(AMD|Intel) VM|seed 00\d",
                   flags=re.I)


def prose(text: str) -> str:
    """The text without fenced code blocks (links and headings inside code are not links)."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but `_` and `-` dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(h) for h in HEADING.findall(prose(path.read_text(encoding="utf-8")))}


def relative_links(path: Path) -> list[str]:
    links = LINK.findall(prose(path.read_text(encoding="utf-8")))
    return [link for link in links if not re.match(r"[a-z][a-z0-9+.-]*:", link)]


def test_there_are_pages_and_links_to_check():
    assert (ROOT / "docs").is_dir() and len(PAGES) > 3, f"pages={PAGES}, but should include docs/*.md"
    assert len(relative_links(README)) >= 5, "README.md has almost no relative links; the link check proves nothing"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_an_existing_file_and_heading(page):
    broken = []
    for link in relative_links(page):
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{link} (no file {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path})")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{link} (no heading #{anchor} in {path.relative_to(ROOT)})")
    assert not broken, f"broken links in {page.relative_to(ROOT)}={broken}, but should be []"


def test_readme_is_at_most_250_lines():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md lines={lines}, but should be <= {README_MAX_LINES} (move detail to docs/)"


@pytest.mark.parametrize("marker, command", [
    ("<!-- main-command -->", ".venv/bin/lstmspec check"),
    ("<!-- test-command -->", ".venv/bin/python -m pytest"),
])
def test_readme_keeps_the_setup_command_two_lines_after_its_marker(marker, command):
    lines = README.read_text(encoding="utf-8").splitlines()
    assert marker in lines, f"README.md has no line {marker!r}; .ci/run reads the test command after it"
    at = lines.index(marker)
    assert lines[at + 1] == "```", f"line after {marker}={lines[at + 1]!r}, but should be a code fence"
    assert command in lines[at + 2], f"command after {marker}={lines[at + 2]!r}, but should contain {command!r}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_speak_of_the_project_and_name_sources_by_title(page):
    found = sorted({m.group(0) for m in DIARY.finditer(page.read_text(encoding="utf-8"))})
    assert not found, f"{page.relative_to(ROOT)} says {found}, but should name papers and posts, not our process"
