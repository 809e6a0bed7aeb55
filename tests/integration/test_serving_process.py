"""A serving process keeps the garbage collector's pauses out of the tills' answer times."""

from __future__ import annotations

import gc

from patron.api.app import SERVING_GC_THRESHOLDS, create_app


async def test_a_serving_process_freezes_what_it_started_with_and_collects_less_often(
    database_url: str,
) -> None:
    before = gc.get_threshold()
    assert before != SERVING_GC_THRESHOLDS  # a test process runs with Python's own thresholds
    app = create_app(database_url, pool_min=1, pool_max=2, freeze_gc=True)
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 0
            assert gc.get_threshold() == SERVING_GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
