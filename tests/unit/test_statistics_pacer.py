"""The statistics keeper spends at most ``SHARE`` of the time on any one table's ANALYZE."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from patron.db.statistics import SHARE, Pacer


def test_a_table_never_analysed_is_ready() -> None:
    assert Pacer().ready("messages", now=0.0)


def test_a_costly_analyze_holds_its_table_back_for_a_hundred_times_its_cost() -> None:
    pacer = Pacer()
    pacer.record("messages", started=10.0, ended=10.1)  # 100 ms
    assert not pacer.ready("messages", now=12.0)  # the next look, 2 s on
    assert not pacer.ready("messages", now=19.9)
    assert pacer.ready("messages", now=20.1)
    assert pacer.ready("receipts", now=12.0)  # other tables are not held back


def test_a_cheap_analyze_is_ready_at_the_next_look() -> None:
    pacer = Pacer()
    pacer.record("stores", started=10.0, ended=10.004)
    assert pacer.ready("stores", now=12.004)


@given(
    took=st.floats(min_value=0.0, max_value=5.0),
    since=st.floats(min_value=0.0, max_value=1000.0),
    later=st.floats(min_value=0.0, max_value=1000.0),
)
def test_analysing_whenever_ready_keeps_to_the_share(took: float, since: float, later: float) -> None:
    """Whenever the table is ready, its last ANALYZE took at most about ``SHARE`` of the time from
    its start until now; and once ready, it stays ready."""
    pacer = Pacer()
    pacer.record("t", started=0.0, ended=took)
    if pacer.ready("t", now=took + since):
        assert took <= SHARE * (took + since) * (1 + 1e-9)
        assert pacer.ready("t", now=took + since + later)
    else:
        assert since < took / SHARE * (1 + 1e-9)
