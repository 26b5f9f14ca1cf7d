"""README's set-up commands are exactly what CI runs, and every Markdown table is well formed."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO


def _setup_block() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Set up\s+```bash\n(.*?)```", text, re.S)
    assert block, "README.md needs a '## Set up' section with one bash block"
    return [ln for ln in block.group(1).splitlines() if ln.strip()]


def test_readme_has_two_setup_commands_that_ci_runs_verbatim():
    commands = _setup_block()
    assert len(commands) == 2
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    for cmd in commands:
        assert cmd in ci, f"{cmd!r} from README is not run verbatim by .ci/run"


def _cells(row: str) -> int:
    """How many cells a Markdown table row has (``|`` inside code spans or escaped does not split)."""
    row = re.sub(r"`[^`]*`", "x", row.strip()).replace("\\|", "x")
    return row.strip("|").count("|") + 1


def _docs() -> list[Path]:
    return [REPO / "README.md", REPO / "srgan" / "shipped" / "README.md", REPO / "weights" / "README.md",
            *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "benchmarks" / "results").glob("*.md"))]  # fmt: skip


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but hyphens dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_in_the_docs_reaches_a_file_and_its_heading():
    bad = []
    for path in _docs():
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            name, _, anchor = target.partition("#")
            dest = (path.parent / name) if name else path
            if not dest.exists():
                bad.append(f"{path.relative_to(REPO)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md":
                headings = {_anchor(ln.lstrip("#")) for ln in dest.read_text().splitlines() if ln.startswith("#")}
                if anchor not in headings:
                    bad.append(f"{path.relative_to(REPO)}: {target} (no such heading)")
    assert not bad, bad


def test_every_markdown_table_row_has_its_header_s_cells():
    docs = _docs()
    bad = []
    for path in docs:
        lines = path.read_text().splitlines()
        for i in range(len(lines) - 1):
            header = lines[i].lstrip().startswith("|") and re.fullmatch(r"\s*\|[\s:|-]+\|\s*", lines[i + 1])
            if header and (i == 0 or not lines[i - 1].lstrip().startswith("|")):
                n, j = _cells(lines[i]), i + 2
                while j < len(lines) and lines[j].lstrip().startswith("|"):
                    if _cells(lines[j]) != n:
                        bad.append(f"{path.relative_to(REPO)}:{j + 1}: {_cells(lines[j])} cells, header {n}")
                    j += 1
    assert len(docs) > 3 and not bad, bad
