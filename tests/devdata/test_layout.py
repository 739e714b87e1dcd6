"""The app packages stand without the development data: nothing in `tracker/` or `inspections/` imports `devdata`."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_no_app_module_imports_the_development_data():
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for package in ("tracker", "inspections")
        for path in sorted((ROOT / package).rglob("*.py"))
        for module in _imported_modules(path)
        if module == "devdata" or module.startswith("devdata.")
    ]
    assert offenders == []


def test_the_word_lists_are_data_files_the_generators_read():
    from devdata import loadgen, suggestion_quality

    words = ROOT / "devdata" / "words"
    assert loadgen.PLACES == (words / "places.txt").read_text().splitlines()
    assert loadgen.NOTES.keys() == {"progress", "comment", "start", "block", "unblock", "submit", "sign-off",
                                    "return", "close", "reopen", "no-further-action", "target0", "defer",
                                    "response"}  # fmt: skip
    assert len(suggestion_quality.LABELLED) == 10
    assert all(len(case[0]) > 40 for case in suggestion_quality.LABELLED)
