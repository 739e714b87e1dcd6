"""The findings import's code stays in small pieces: no function in tracker/imports/ over 60 lines."""

from __future__ import annotations

import ast
from pathlib import Path

IMPORTS = Path(__file__).resolve().parents[2] / "tracker" / "imports"
MAX_LINES = 60


def function_lengths(path: Path) -> list[tuple[str, int]]:
    """(name, lines from `def` to the last line of the body) of every function and method in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        (f"{path.name}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None
    ]


def test_no_function_in_the_import_package_is_over_sixty_lines():
    lengths = [length for path in sorted(IMPORTS.glob("*.py")) for length in function_lengths(path)]
    assert len(lengths) > 50  # the check sees the package's functions
    assert [(name, lines) for name, lines in lengths if lines > MAX_LINES] == []


def test_the_check_counts_a_long_function(tmp_path):
    body = "\n".join(f"    x{n} = {n}" for n in range(MAX_LINES))
    (tmp_path / "long.py").write_text(f"def long():\n{body}\n")
    assert function_lengths(tmp_path / "long.py") == [("long.py:1 long", MAX_LINES + 1)]
