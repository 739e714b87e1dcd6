"""Counted figures and the /plans/ list behind each: one home for how a group of plans is summed up
(dashboard, board pack, inspection pages), so the same numbers carry the same names and links everywhere."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlencode

from .models import ActionPlan


def pct(part: int, total: int) -> int:
    """`part` of `total` as a whole percentage, a half rounded up as people round it (1 of 8 is 13%, where
    Python's `round` would give 12%, to the even number), in whole numbers so no float decides it."""
    return (200 * part + total) // (2 * total) if total else 0


def plans_link(**params: Any) -> str:
    """A /plans/ query string that reproduces a number (status may be a list)."""
    return "/plans/?" + "&".join(_pairs(params))


def _pairs(params: dict[str, Any]) -> list[str]:
    """The `key=value` parts of `plans_link`'s query string, in order (an empty value left out)."""
    pairs: list[str] = []
    for key, value in params.items():
        if value in (None, ""):
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append(_pair(key, str(item)))
    return pairs


@functools.lru_cache(maxsize=4096)
def _pair(key: str, value: str) -> str:
    """One `key=value` of a query string, as `urlencode` writes it (a dashboard writes thousands of links
    from a few hundred keys and values)."""
    return urlencode([(key, value)])


REPORTED = [str(s) for s in ActionPlan.REPORTED_COMPLETE_STATUSES]
Stage = ActionPlan.Stage
STAGES = [str(stage) for stage in Stage]
# "Reported complete" as stages: the /plans/ link behind the headline rate.
REPORTED_STAGES = [str(Stage.AWAITING_VERIFICATION), str(Stage.VERIFIED)]


def cell(row: dict[str, Any], **scope: Any) -> dict[str, Any]:
    """A group's figures (`completion_counts`) with the headline rates and the /plans/ link behind each
    number. `stages` lists the stages in order (label, count, link): they add up to `total`.

    Each link is `plans_link(**scope, ...)`: the scope's part of the query string is written once and the
    rest added to it (a dashboard has about 1,500 cells)."""
    common = _pairs(scope)

    def link(*more: str) -> str:
        return "/plans/?" + "&".join([*common, *more])

    links = {
        "total": link(),
        **{stage: link(pair) for stage, pair in _STAGE_PAIRS.items()},
        "reported": link(*_REPORTED_PAIRS),
        "overdue": link(_OVERDUE_PAIR),
    }
    return {
        **row,
        "reported_pct": pct(row["reported"], row["total"]),
        "verified_pct": pct(row["verified"], row["total"]),
        "stages": [
            {"value": stage, "label": label, "count": row[stage], "link": links[stage]}
            for stage, label in _STAGE_CHOICES
        ],
        "links": links,
    }


# What `cell` adds to a scope's query string: plans_link(stage=...), plans_link(stage=REPORTED_STAGES),
# plans_link(overdue=1).
_STAGE_CHOICES = Stage.choices
_STAGE_PAIRS = {stage: _pairs({"stage": stage})[0] for stage in STAGES}
_REPORTED_PAIRS = _pairs({"stage": REPORTED_STAGES})
_OVERDUE_PAIR = _pairs({"overdue": 1})[0]
