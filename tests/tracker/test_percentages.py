"""Percentages shown beside counts (dashboard, board pack, inspection pages): `figures.pct`."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.figures import pct


def test_a_half_is_rounded_up_as_people_round_it():
    assert [pct(n, 8) for n in range(9)] == [0, 13, 25, 38, 50, 63, 75, 88, 100]
    assert pct(1, 200) == 1 and pct(5, 1000) == 1 and pct(0, 0) == 0


@settings(max_examples=500)
@given(
    total=st.one_of(st.integers(min_value=1, max_value=400), st.integers(min_value=1, max_value=10**7)), data=st.data()
)
def test_every_percentage_is_the_exact_share_rounded_half_up(total, data):
    part = data.draw(st.integers(min_value=0, max_value=total))
    exact = Decimal(100 * part) / Decimal(total)
    assert pct(part, total) == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert 0 <= pct(part, total) <= 100
