"""The layering holds: the job framework knows no job kind's domain, and ``ml`` and ``augment``
stay pure (no catalog, no broker). Every import counts, including those inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "workbench"


def imported_modules(path: Path) -> set[str]:
    """Every workbench module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module != "workbench":  # "from workbench import errors" names workbench.errors
                found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name == "workbench" or name.startswith("workbench.")}


def _within(name: str, allowed: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in allowed)


LAYERS = [
    # (the files, the workbench modules they may import)
    (
        "jobs/**/*.py",
        ("workbench.jobs", "workbench.catalog", "workbench.config", "workbench.errors", "workbench.disk"),
    ),
    ("ml/**/*.py", ("workbench.ml", "workbench.errors")),
    ("augment.py", ("workbench.errors",)),
]


@pytest.mark.parametrize(("pattern", "allowed"), LAYERS, ids=[pattern for pattern, _ in LAYERS])
def test_a_layer_imports_only_what_is_below_it(pattern: str, allowed: tuple[str, ...]) -> None:
    files = sorted(PACKAGE.glob(pattern))
    assert files, f"no files match {pattern}"
    wrong = {
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in files
        for name in imported_modules(path)
        if not _within(name, allowed)
    }
    assert not wrong, sorted(wrong)


def test_the_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "hidden.py"
    source.write_text("def f():\n    from workbench.training import fit\n    from workbench import derive\n")
    assert imported_modules(source) == {"workbench.training", "workbench.training.fit", "workbench.derive"}
