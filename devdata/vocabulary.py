"""The word lists of the demo and load data, kept as data files in `devdata/words/`.

Plain lists are one entry a line (`.txt`); pairs are tab-separated (`.tsv`); lists with structure are JSON.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def _read(name: str) -> str:
    return resources.files("devdata").joinpath("words", name).read_text(encoding="utf-8")


def lines(name: str) -> list[str]:
    """`places.txt` -> its non-empty lines, in file order."""
    return [line for line in _read(name).splitlines() if line]


def pairs(name: str) -> list[tuple[str, str]]:
    """`extra_themes.tsv` -> its lines as (first, second) pairs."""
    found = []
    for line in lines(name):
        first, second = line.split("\t")
        found.append((first, second))
    return found


def data(name: str) -> Any:
    """`notes.json` -> the JSON value."""
    return json.loads(_read(name))
