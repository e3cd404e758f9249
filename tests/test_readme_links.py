"""Every relative link of the README reaches a file, and its anchor a heading there
(as GitHub makes anchors). The docs' own links are checked by `make docs-build`
(mkdocs --strict); the README is outside the site."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pymdownx.slugs import slugify

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")
slug = slugify(case="lower")


def anchors(path: Path) -> set[str]:
    found, fenced = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"^#+ (.*)$", line)):
            found.add(slug(heading.group(1), "-"))
    return found


def relative_links(path: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(path.read_text())
        if not target.startswith(("http://", "https://", "mailto:"))
    ]


@pytest.mark.parametrize("link", relative_links(ROOT / "README.md"))
def test_the_readme_links_somewhere_real(link: str) -> None:
    file, _, anchor = link.partition("#")
    target = ROOT / file if file else ROOT / "README.md"
    assert target.exists(), f"{link}: no such file"
    if anchor:
        assert anchor in anchors(target), f"{link}: no such heading in {file or 'README.md'}"
