"""List totals over a big org: exact while there are at most 1,000 matches, then capped (`total_capped`), whether
the last page, a count or the planner's estimate told it."""

from __future__ import annotations

import pytest
from hearth_kit.ids import new_id
from hearth_kit.testing import ServiceHarness

pytestmark = pytest.mark.integration

# 2,100 requests: every 7th is high priority (300), the rest normal.
SEED = """
INSERT INTO requests (id, org_id, building_id, title, category, priority, status, source, due_at, created_by,
                      created_at, updated_at)
SELECT 'req_total' || lpad(i::text, 17, '0'), $1, $2, 'Request ' || i, 'general',
       CASE WHEN i % 7 = 0 THEN 'high' ELSE 'normal' END, 'new', 'staff', now() + interval '3 days', 'key_test',
       now() - make_interval(secs => i), now()
FROM generate_series(0, 2099) AS i
"""


async def meta(h: ServiceHarness, org: str, query: str) -> tuple[dict[str, object], int]:
    resp = await h.client.get(f"/v1/requests?{query}", headers=h.headers(org_id=org))
    assert resp.status_code == 200, resp.text
    return resp.json()["meta"], len(resp.json()["data"])


async def test_totals_are_exact_up_to_the_cap(maint: ServiceHarness) -> None:
    org = new_id("org")
    async with maint.raw(org_id=org) as conn:
        await conn.execute(SEED, org, new_id("bld"))
        await conn.execute("ANALYZE requests")
    capped = {"total": 1000, "total_capped": True}
    assert await meta(maint, org, "limit=100") == ({**capped, "page": 1, "limit": 100}, 100)
    assert await meta(maint, org, "limit=100&page=21") == ({**capped, "page": 21, "limit": 100}, 100)
    assert await meta(maint, org, "limit=100&page=22") == ({**capped, "page": 22, "limit": 100}, 0)
    # 300 matches: counted on a full page, told by the last page, counted again past the end
    assert await meta(maint, org, "priority=high&limit=100") == ({"total": 300, "page": 1, "limit": 100}, 100)
    assert await meta(maint, org, "priority=high&limit=100&page=3") == ({"total": 300, "page": 3, "limit": 100}, 100)
    assert await meta(maint, org, "priority=high&limit=70&page=5") == ({"total": 300, "page": 5, "limit": 70}, 20)
    assert await meta(maint, org, "priority=high&limit=100&page=9") == ({"total": 300, "page": 9, "limit": 100}, 0)
    assert await meta(maint, org, "priority=low") == ({"total": 0, "page": 1, "limit": 20}, 0)
