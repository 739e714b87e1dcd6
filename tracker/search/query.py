"""What a person types into the search box, read once into a small structure and written out in each
database's own query language. Anything may be typed: the result is only ever words made of letters
and digits, joined by operators this module writes, so no input can break a query or raise.

The syntax is the one search engines taught everyone (and PostgreSQL's `websearch_to_tsquery` reads):
words must all match; "quoted words" must match together, in that order; `OR` between two words or
phrases accepts either; a leading `-` excludes a word or phrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CHARS = 200  # longer input is cut here (and the page says so)
MAX_PARTS = 10  # words or phrases; more are ignored

_CHUNK = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')
_WORD = re.compile(r"[^\W_]+")

Phrase = tuple[str, ...]  # one word, or words that must follow each other


@dataclass(frozen=True)
class Query:
    groups: tuple[tuple[Phrase, ...], ...]  # every group must match; a group matches if any of its phrases does
    excluded: tuple[Phrase, ...] = ()
    truncated: bool = False

    def __bool__(self) -> bool:
        return bool(self.groups)

    @property
    def words(self) -> list[str]:
        return [word for group in self.groups for phrase in group for word in phrase]

    @property
    def has_phrase(self) -> bool:
        """Whether words must follow each other somewhere (not only be present)."""
        return any(len(phrase) > 1 for group in self.groups for phrase in group)

    @property
    def words_only(self) -> bool:
        """Only words that must all be present: no phrase, no `OR`, nothing excluded."""
        return all(len(group) == 1 and len(group[0]) == 1 for group in self.groups) and not self.excluded

    def fts5(self) -> str:
        """SQLite FTS5 syntax: "a" AND ("b c" OR "d") NOT "e"."""

        def phrase(words: Phrase) -> str:
            return '"' + " ".join(words) + '"'

        parts = []
        for group in self.groups:
            alternatives = [phrase(p) for p in group]
            parts.append(alternatives[0] if len(alternatives) == 1 else "(" + " OR ".join(alternatives) + ")")
        text = " AND ".join(parts)
        for words in self.excluded:
            text += f" NOT {phrase(words)}"
        return text

    def tsquery(self) -> str:
        """PostgreSQL `to_tsquery` syntax, every word quoted: 'a' & ('b' <-> 'c' | 'd') & !'e'."""

        def phrase(words: Phrase) -> str:
            inner = " <-> ".join(f"'{word}'" for word in words)
            return f"({inner})" if len(words) > 1 else inner

        parts = []
        for group in self.groups:
            alternatives = [phrase(p) for p in group]
            parts.append(alternatives[0] if len(alternatives) == 1 else "(" + " | ".join(alternatives) + ")")
        parts += [f"!{phrase(words)}" for words in self.excluded]
        return " & ".join(parts)

    def or_of_words(self) -> Query:
        """Any of the words (for suggestions: a finding shares some of another's words, not all)."""
        unique = list(dict.fromkeys(self.words))
        return Query(groups=(tuple((word,) for word in unique),)) if unique else Query(groups=())


def parse(text: str, *, max_parts: int = MAX_PARTS) -> Query:
    """Read search input. Never raises; returns an empty (false) Query when nothing searchable is left."""
    text = text or ""
    truncated = len(text) > MAX_CHARS
    text = text[:MAX_CHARS]
    groups: list[list[Phrase]] = []
    excluded: list[Phrase] = []
    join_next = False
    for match in _CHUNK.finditer(text):
        negative = bool(match.group(1) or match.group(3))
        raw = match.group(2) if match.group(2) is not None else match.group(4)
        if match.group(4) == "OR":
            join_next = bool(groups)
            continue
        words = tuple(word.casefold() for word in _WORD.findall(raw))
        if not words:
            continue
        if negative:
            excluded.append(words)
        elif join_next:
            groups[-1].append(words)
        else:
            groups.append([words])
        join_next = False
    kept = [tuple(group) for group in groups][:max_parts]
    return Query(groups=tuple(kept), excluded=tuple(excluded[:max_parts]), truncated=truncated)
