"""The docs point at the kit's own lists instead of copying them, and what they do list matches the source.

The variable reference (docs/VARIABLES.md) has one row per settable variable; its names, in order, must be
spec.VARIABLES (what `make help` prints), so a new variable needs only its docs line. The README stays a first
screen, and every relative link in the README and docs/ opens a file of the repository.
"""
from __future__ import annotations

import re

from semask import spec

ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_variable_reference_lists_exactly_spec_variables_in_order(root):
    text = (root / "docs" / "VARIABLES.md").read_text(encoding="utf-8")
    names = [m.group(1) for line in text.splitlines() if (m := ROW.match(line))]
    assert names == list(spec.VARIABLE_NAMES)


def test_readme_is_a_first_screen_with_the_two_commands(root):
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    ci = (root / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci and "\nmake test " in readme and "\nmake all " in readme


def test_relative_links_open_files_of_the_repository(root):
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(root)} -> {target}")
    assert not broken
