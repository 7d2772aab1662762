"""bench/load.py `--varied` (issue 15): the incident list when every request asks something
different, and its first, deep and responder pages with the kept-page cache off.

wrk repeats one URL, so a single-URL run of the list measures a page served from the cache
(incidents/api/list_cache.py). Here wrk runs a Lua script that builds each request's URL from
a counter: 12 filter sets (team, service, status, severity, open, security, detected_after, q)
x 8 orderings x pages 1-20 x page sizes 40-60, stepped through with a stride coprime with
their number, so no URL repeats within a run (pages past a filter's last page are skipped:
every answer is a 200). Each run starts at another place of the cycle, so nothing the
warm-up or an earlier run asked is asked again.

Two servers, one after the other, each measured against the plain view in the same run:
- as production runs (the cache on): the plain view and the varied list;
- with `TENSAFE_INCIDENT_LIST_CACHE_SECONDS=0`: the plain view, the varied list, and the
  first, deep and responder pages (each built anew on every request).

Then `EXPLAIN (ANALYZE, BUFFERS)` of the count and page queries the list runs for a `?team=`
query and for a responder's first page, captured from a request made in this process.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

ORDERINGS = [
    "",
    "-detected_at",
    "detected_at",
    "severity",
    "-severity",
    "status,-detected_at",
    "-id",
    "id",
]
PAGES = 20
SIZES = range(40, 61)
# Coprime with 12 x 8 x 20 x 21 (= 2^7 3^2 5 7): the counter visits every combination once.
STRIDE = 11 * 13 * 17
TARGETS = {"ratio": 0.25, "p99_ms": 150.0}


def filter_sets() -> list[str]:
    """Twelve query strings: every filter the list has, alone and combined."""
    from incidents.models import Service

    teams = ["platform", "security"]
    services = list(Service.objects.order_by("id").values_list("slug", flat=True)[:3])
    a_year_ago = (datetime.now(UTC) - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        "",
        f"team={teams[0]}",
        f"team={teams[1]}",
        "status=resolved",
        "severity=P1,P2",
        f"service={services[0]}",
        f"service={services[1]}&severity=P3",
        f"team={teams[0]}&severity=P4",
        "open=true",
        "q=latency",
        f"security=false&detected_after={a_year_ago}",
        f"team={teams[1]}&status=resolved",
    ]


def last_pages(token: str, sets: list[str]) -> dict[str, dict[int, int]]:
    """For each filter set, the last page at each page size (the security user's count)."""
    from django.test import Client

    client = Client()
    out = {}
    for query in sets:
        response = client.get(
            f"/api/v1/incidents/?{query}&page_size=1", HTTP_AUTHORIZATION=f"Token {token}"
        )
        assert response.status_code == 200, (query, response.content[:300])
        count = response.json()["count"]
        out[query] = {size: max(1, math.ceil(count / size)) for size in SIZES}
    return out


def _lua_list(strings: list[str]) -> str:
    return ", ".join(json.dumps(s) for s in strings)


def lua_script(pages: dict[str, dict[int, int]], start: int) -> str:
    """A wrk script whose `request()` asks the next URL of the cycle."""
    sets = list(pages)
    lasts = ", ".join("{" + ", ".join(str(pages[q][size]) for size in SIZES) + "}" for q in sets)
    return f"""
local sets = {{{_lua_list(sets)}}}
local orderings = {{{_lua_list(ORDERINGS)}}}
local lasts = {{{lasts}}}
local n_sizes, n_orderings, n_pages = {len(SIZES)}, {len(ORDERINGS)}, {PAGES}
local total = #sets * n_orderings * n_pages * n_sizes
local i = {start}
request = function()
    while true do
        local idx = (i * {STRIDE}) % total
        i = i + 1
        local s = idx % n_sizes
        idx = (idx - s) / n_sizes
        local o = idx % n_orderings
        idx = (idx - o) / n_orderings
        local p = idx % n_pages
        local f = (idx - p) / n_pages
        if p + 1 <= lasts[f + 1][s + 1] then
            local path = "/api/v1/incidents/?page_size=" .. (s + {SIZES[0]}) .. "&page=" .. (p + 1)
            if sets[f + 1] ~= "" then path = path .. "&" .. sets[f + 1] end
            if orderings[o + 1] ~= "" then path = path .. "&ordering=" .. orderings[o + 1] end
            return wrk.format(nil, path)
        end
    end
end
"""


def varied_load(load, pages: dict, token: str):
    """A load function for `name == "list_varied"` (a new place in the cycle each call)."""
    rng = random.Random(15)  # noqa: S311 - where in the cycle to start, not a secret

    def run(port, url, connections, duration, **kwargs):
        script = lua_script(pages, rng.randrange(len(pages) * len(ORDERINGS) * PAGES * 21))
        return load(port, url, connections, duration, lua=script, **kwargs)

    return run, {"Authorization": f"Token {token}"}


def explain(tokens: dict[str, str]) -> dict[str, list[dict]]:
    """EXPLAIN (ANALYZE, BUFFERS) of each query on the incidents table (the count and the
    page) of a `?team=` query and of a responder's first page, each built anew."""
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    asked = {
        "team": (tokens["security"], "/api/v1/incidents/?team=security&page_size=50"),
        "responder": (tokens["responder"], "/api/v1/incidents/?page_size=50"),
    }
    out = {}
    for name, (token, url) in asked.items():
        client.get(url, HTTP_AUTHORIZATION=f"Token {token}")
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, HTTP_AUTHORIZATION=f"Token {token}")
        assert response.status_code == 200, (url, response.content[:300])
        out[name] = []
        for query in captured.captured_queries:
            sql = query["sql"]
            if 'FROM "incidents_incident"' not in sql:
                continue
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                plan = "\n".join(row[0] for row in cursor.fetchall())
            out[name].append({"sql": sql, "plan": plan})
    return out


# The tables that grow with the incidents; the catalog, the teams and the people stay small,
# and the planner rightly reads those whole.
GROWING = {
    "incidents_incident",
    "incidents_incident_services",
    "incidents_roleassignment",
    "incidents_timelineevent",
}


def sequential_scans(plans: dict[str, list[dict]]) -> list[str]:
    """`name: the scanned table` for every sequential scan of a table in GROWING."""
    found = []
    for name, queries in plans.items():
        for query in queries:
            for line in query["plan"].splitlines():
                if "Seq Scan on " in line:
                    table = line.split("Seq Scan on ")[1].split()[0]
                    if table in GROWING:
                        found.append(f"{name}: {table}")
    return found
