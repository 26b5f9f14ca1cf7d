"""README's set-up commands are exactly what CI runs."""

from __future__ import annotations

import re

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
