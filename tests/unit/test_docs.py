"""The documentation: every link in the README and docs/ resolves, and the layout page names every module."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "competitions" / "dogs_vs_cats" / "README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of PAGE's headings (outside code blocks)."""
    found, fenced = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # http(s), mailto: not checked offline
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    return broken


def test_every_link_resolves():
    assert [p for p in PAGES if p.is_file()] == PAGES
    assert sum(len(LINK.findall(p.read_text())) for p in PAGES) > 20  # the check reads the links at all
    assert [b for p in PAGES for b in broken_links(p)] == []


def test_a_broken_link_would_be_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](missing.md) [no heading](#nowhere) [web](https://kaggle.com)\n")
    assert [b.split(": ", 1)[1] for b in broken_links_in(page, tmp_path)] == [
        "missing.md (no such file)", "#nowhere (no such heading)"]


def broken_links_in(page: Path, root: Path) -> list[str]:
    global ROOT
    saved, ROOT = ROOT, root
    try:
        return broken_links(page)
    finally:
        ROOT = saved


def listed_modules(text: str) -> set[str]:
    """The modules docs/layout.md lists: 'folder/name.py' for each `- \`name.py\`:` line under '### ...: `kagglekit/folder/`'."""
    found, folder = set(), None
    for line in text.splitlines():
        heading = re.match(r"### .*`kagglekit/(\w+)/`", line)
        if heading:
            folder = heading.group(1)
        elif line.startswith("#"):
            folder = None
        module = re.match(r"- `(\w+\.py)`:", line)
        if module and folder:
            found.add(f"{folder}/{module.group(1)}")
    return found


def test_the_layout_page_names_every_module():
    package = ROOT / "kagglekit"
    modules = {p.relative_to(package).as_posix() for p in package.glob("*/*.py") if p.name != "__init__.py"}
    listed = listed_modules((ROOT / "docs" / "layout.md").read_text())
    assert len(modules) > 40
    assert sorted(modules - listed) == [], "add these modules to docs/layout.md"
    assert sorted(listed - modules) == [], "docs/layout.md lists modules that do not exist"
