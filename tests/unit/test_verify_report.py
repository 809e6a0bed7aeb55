"""What `patron verify` prints when a check fails: counts, then one JSON line a row shown."""

from __future__ import annotations

import json

from patron import verify


def test_a_report_counts_every_failing_row_and_names_tenants_by_slug() -> None:
    check = verify.CHECKS[0]
    rows = [{"tenant_id": 7, "lot": n} for n in range(verify.SHOWN)]
    lines = verify.report([verify.Failure(check, rows, 25)], {7: "acme"})
    assert lines[0] == f"FAILED {check.name}: {check.description} (25 rows; the first {verify.SHOWN})"
    assert [json.loads(line) for line in lines[1:]] == [
        {"tenant": "acme", "lot": n} for n in range(verify.SHOWN)
    ]
    one = verify.report([verify.Failure(check, [{"tenant_id": 8, "lot": 1}], 1)], {})
    assert one[0].endswith("(1 rows)") and json.loads(one[1]) == {"tenant": 8, "lot": 1}
