"""Materialization throughput: N source rows (K entities, F float features) from a strata table into
the RocksDB online store through FeatureStore.materialize. Target (feature-store issue): >= 1M rows/s
at 10M rows. Prints rows/s and peak RSS. Usage: bench_materialize.py [--rows 10000000] [--keys 1000000]"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import strata  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    root = args.dir or tempfile.mkdtemp(prefix="strata_bench_mat_")
    repo = os.path.join(root, "repo")
    shutil.rmtree(repo, ignore_errors=True)
    os.makedirs(repo)
    rng = np.random.default_rng(7)
    n = args.rows
    base = np.datetime64("2026-01-01T00:00:00", "us").astype(np.int64)
    cols = {
        "entity_id": pa.array(rng.integers(0, args.keys, n)),
        "event_timestamp": pa.array(base + rng.integers(0, 30 * 86400, n) * 1_000_000, pa.timestamp("us", tz="UTC")),
    }
    for f in range(args.features):
        cols[f"f{f}"] = pa.array(rng.random(n))
    t0 = time.perf_counter()
    strata.write_table(os.path.join(repo, "data/source"), pa.table(cols))
    print(f"wrote {n:,} source rows in {time.perf_counter() - t0:.1f} s")
    feats = ", ".join(f"{{name: f{f}, type: float64}}" for f in range(args.features))
    with open(os.path.join(repo, "strata.yaml"), "w") as fh:
        fh.write("project: bench\nonline: {type: rocksdb, path: online}\n")
    with open(os.path.join(repo, "defs.yaml"), "w") as fh:
        fh.write(f"""entities:
  - name: e
    join_keys: [{{name: entity_id, type: int64}}]
sources:
  - name: src
    table: data/source
    timestamp_field: event_timestamp
feature_views:
  - name: v
    entities: [e]
    source: src
    features: [{feats}]
""")
    fs = strata.FeatureStore(repo)
    fs.apply()
    t0 = time.perf_counter()
    runs = fs.materialize(None, "2027-01-01T00:00:00")
    secs = time.perf_counter() - t0
    r = runs[0]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"materialize: {r['rows_read']:,} rows read, {r['rows_written']:,} entities written in {secs:.2f} s "
          f"-> {r['rows_read'] / secs / 1e6:.2f} M rows/s (target >= 1.0), peak RSS {rss:.0f} MiB")
    t0 = time.perf_counter()
    fs.materialize_incremental("2027-01-02T00:00:00")
    print(f"incremental with nothing new: {time.perf_counter() - t0:.3f} s")
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
