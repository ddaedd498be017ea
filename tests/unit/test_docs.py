"""The README is a front door (at most 400 lines) and every relative link and #anchor in it and in docs/
resolves, as GitHub renders them: a page moved or a heading renamed fails here, not in a reader's browser."""

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(path: Path) -> list[str]:
    """The page's lines with fenced code blanked (a `# comment` in a bash block is not a heading)."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, links reduced to their text, punctuation dropped (but
    - and _), spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor; a repeated heading's get -1, -2, ... as GitHub numbers them."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(path):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            found.add(base if count == 0 else f"{base}-{count}")
            seen[base] = count + 1
    return found


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    broken = []
    for number, line in enumerate(prose_lines(page), 1):
        for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):  # a link inside inline code is code
            if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            destination = (page.parent / unquote(path)).resolve() if path else page
            where = f"{page.relative_to(root)}:{number}: {target}"
            if not destination.exists():
                broken.append(f"{where}: no such file")
            elif anchor and (destination.suffix != ".md" or anchor not in anchors(destination)):
                broken.append(f"{where}: no heading with that anchor")
    return broken


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Scaling out: several workers on one study", "scaling-out-several-workers-on-one-study"),
        ("What `python train.py` does", "what-python-trainpy-does"),
        ("GPU: `bench/gpu.py` on an H200", "gpu-benchgpupy-on-an-h200"),
        ("CI: `.ci/run`", "ci-cirun"),
        ("Warm starts: `enqueue` and `warm_start_from`", "warm-starts-enqueue-and-warm_start_from"),
    ],
)
def test_anchors_are_githubs(heading, anchor):
    assert slug(heading) == anchor


def test_every_link_and_anchor_in_the_readme_and_docs_resolves():
    assert len(PAGES) > 5, "docs/ has its pages"
    broken = [b for page in PAGES for b in broken_links(page)]
    assert not broken, "\n".join(broken)


def test_a_broken_link_is_named_with_its_page_and_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Top\n\n[ok](#top) [gone](other.md) [typo](#tpo)\n\n```\n# not a heading\n```\n")
    assert broken_links(page, tmp_path) == [
        "page.md:3: other.md: no such file",
        "page.md:3: #tpo: no heading with that anchor",
    ]


def test_the_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 400, f"README.md has {lines} lines: the manual belongs in docs/"
