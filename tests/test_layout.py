"""The package reads one way: imports only run down the layers README's "How srgan is built" shows,
no two packages import each other, and no module grows past about 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "srgan"

#: Layers, bottom first. A module may import from its own layer and the ones below it.
LAYERS: list[set[str]] = [
    {"errors", "defaults", "fsutil", "signals", "progress", "device", "resize"},
    {"imageio"},
    {"archs", "losses", "metrics", "weights"},
    {"data"},
    {"train", "infer"},
    {"evaluation", "augment"},
    {"cli", "__main__"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
MAX_LINES = 420


def _unit(path: Path) -> str:
    """The top-level unit a file belongs to: ``srgan/infer/batch.py`` -> ``infer``."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """Top-level srgan units a file imports, at any depth of the file (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if (
                parts[0] == "srgan"
                and len(parts) > 1
                and (PACKAGE / parts[1]).exists() | (PACKAGE / f"{parts[1]}.py").exists()
            ):
                found.add(parts[1])
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def test_every_unit_has_a_layer():
    units = {_unit(p) for p in _modules()}
    assert units <= set(LAYER), f"add these to LAYERS: {sorted(units - set(LAYER))}"


def test_imports_run_down_the_layers():
    wrong = []
    for path in _modules():
        unit = _unit(path)
        for target in _imports(path):
            if LAYER[target] > LAYER[unit]:
                wrong.append(f"{path.relative_to(REPO)} ({unit}, layer {LAYER[unit]}) imports {target} "
                             f"(layer {LAYER[target]})")  # fmt: skip
    assert not wrong, "\n".join(wrong)


def test_no_two_units_import_each_other():
    edges = {(_unit(p), t) for p in _modules() for t in _imports(p) if t != _unit(p)}
    cycles = sorted(f"{a} <-> {b}" for a, b in edges if (b, a) in edges and a < b)
    assert not cycles, cycles


def test_modules_stay_small():
    big = {str(p.relative_to(REPO)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"split these modules: {big}"


def test_the_checker_sees_a_violation(tmp_path):
    """The walk finds lazy imports inside functions too (so the layout test cannot pass vacuously)."""
    f = PACKAGE / "imageio" / "read.py"
    assert "errors" in _imports(f)
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from srgan.cli import main\n    return main\n")
    assert _imports(probe) == {"cli"}
