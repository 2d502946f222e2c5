#!/usr/bin/env python
"""A process for the MERGE/OPTIMIZE crash test: applies a deterministic sequence of operations to
a table, one commit each, until killed.

    table_ops_proc.py PATH --start J --count N

Merge j (j = 1, 2, ...) upserts `source(j)`; after every even j an OPTIMIZE follows (Z-ordered
every other time; it commits nothing when there is nothing to compact). OPTIMIZE changes no
rows, so the table after m committed merges must equal `model(m)` whatever point a kill
interrupted. Prints "ready" once imported, then "merge J VERSION" / "optimize VERSION" per
finished operation.
"""

from __future__ import annotations

import argparse
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_PY = os.path.join(os.path.dirname(_HERE), "python")
if _PY not in sys.path:
    sys.path.insert(0, _PY)

import pyarrow as pa  # noqa: E402

import strata  # noqa: E402

KEYS = 400
ROWS_PER_MERGE = 60


def initial() -> pa.Table:
    return pa.table({"id": pa.array(range(0, KEYS, 2), pa.int64()), "part": [f"p{i % 3}" for i in range(0, KEYS, 2)],
                     "v": pa.array([0] * (KEYS // 2), pa.int64())})


def source(k: int) -> pa.Table:
    ids = [(k * 37 + i * 7) % (KEYS + 50) for i in range(ROWS_PER_MERGE)]
    ids = sorted(set(ids))
    return pa.table({"id": pa.array(ids, pa.int64()), "part": [f"p{i % 3}" for i in ids],
                     "v": pa.array([k] * len(ids), pa.int64())})


def model(m: int) -> dict[int, tuple[str, int]]:
    """id -> (part, v) after merges 1..m."""
    rows = {r["id"]: (r["part"], r["v"]) for r in initial().to_pylist()}
    for j in range(1, m + 1):
        for r in source(j).to_pylist():
            rows[r["id"]] = (r["part"], r["v"])
    return rows


def merge(path: str, j: int) -> int:
    return (strata.Table(path).merge(source(j), on="t.id = s.id", source_alias="s", target_alias="t")
            .when_matched_update_all().when_not_matched_insert_all().execute()["version"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--start", type=int, required=True)
    ap.add_argument("--count", type=int, default=1000)
    a = ap.parse_args()
    print("ready", flush=True)
    for j in range(a.start, a.start + a.count):
        print(f"merge {j} {merge(a.path, j)}", flush=True)
        if j % 2 == 0:
            v = strata.Table(a.path).optimize(z_order=["v"] if j % 4 == 0 else None)["version"]
            print(f"optimize {v}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
