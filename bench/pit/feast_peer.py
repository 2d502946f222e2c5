#!/usr/bin/env python3
"""The Feast peer of bench/pit/bench_pit.py, run by it with .venv-feast/bin/python (installed by
bench/pit/setup-feast): point-in-time retrieval with Feast's local offline store
(`offline_store: file`, pandas/dask) on Parquet copies of the benchmark's feature views.

    .venv-feast/bin/python bench/pit/feast_peer.py --dir bench/out/pit/<size> --views 3 --repeat 1

Builds a feature repository in a temporary folder (feature_store.yaml with a file registry, the
file offline store and a sqlite online store; one entity, one FileSource + FeatureView per view
with the same TTLs as strata's), applies it, converts the entity frame to pandas (untimed, with an
untimed warm-up retrieval of 1,000 entity rows), then times
get_historical_features(entity_df, features=[...]).to_df(). Prints the same result line as the
strata and DuckDB workers (times, per-feature checksums)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_pit import checksums, view_specs  # noqa: E402
from common import emit_result, rss_kb  # noqa: E402


def feast_checksums(df, specs) -> dict:
    import numpy as np

    cols = {}
    for v in specs:
        for name, _, _, hi in v["features"]:
            c = df[name]
            valid = c.notna().to_numpy()
            cols[name] = (np.nan_to_num(c.to_numpy(dtype=np.float64, na_value=np.nan)), valid, hi is not None)
    return checksums(cols, df["row_id"].to_numpy(dtype=np.int64))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--views", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--entities", type=int)  # accepted for symmetry with the other workers
    ap.add_argument("--rows", type=int)
    ap.add_argument("--keys", type=int)
    a = ap.parse_args()

    import numpy as np
    import pyarrow as pa
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float32, Float64, Int32, Int64

    d = Path(a.dir).resolve()
    specs = view_specs(a.views)
    dtypes = {"float64": Float64, "float32": Float32, "int64": Int64, "int32": Int32}
    with tempfile.TemporaryDirectory(prefix="feast_pit_") as tmp:
        Path(tmp, "feature_store.yaml").write_text(
            "project: bench_pit\n"
            f"registry: {tmp}/registry.db\n"
            "provider: local\n"
            "offline_store:\n  type: file\n"
            f"online_store:\n  type: sqlite\n  path: {tmp}/online.db\n"
            "entity_key_serialization_version: 3\n")
        user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
        objects = [user]
        for v in specs:
            src = FileSource(name=v["name"], path=str(d / "parquet" / f"{v['name']}.parquet"), timestamp_field="ts",
                             created_timestamp_column="created")
            ttl = dt.timedelta(microseconds=v["ttl_us"]) if v["ttl_us"] else dt.timedelta(0)  # 0: no TTL
            objects.append(FeatureView(name=v["name"], entities=[user], ttl=ttl, source=src, online=False,
                                       schema=[Field(name="user_id", dtype=Int64)] +
                                       [Field(name=n, dtype=dtypes[t]) for n, t, _, _ in v["features"]]))
        fs = FeatureStore(repo_path=tmp)
        fs.apply(objects)
        refs = [f"{v['name']}:{f[0]}" for v in specs for f in v["features"]]
        entity = pa.ipc.open_file(pa.memory_map(str(d / "entity.arrow"))).read_all()
        entity_df = entity.to_pandas()
        del entity

        fs.get_historical_features(entity_df=entity_df.head(1000), features=refs).to_df()  # warm-up: imports, paths
        base_rss_kb = rss_kb()[0]
        times, cpu, sums = [], [], []
        for _ in range(a.repeat):
            c0, t0 = time.process_time(), time.perf_counter()
            out = fs.get_historical_features(entity_df=entity_df, features=refs).to_df()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            sums.append(feast_checksums(out, specs))
            rows = len(out)
            dropped = np.setdiff1d(entity_df["row_id"].to_numpy(), out["row_id"].to_numpy())
            del out
        import feast

        # Feast leaves out entity rows for which a view has rows of the key but none in its window;
        # the driver compares strata's answer on the rows Feast returned (and checks which were left out).
        np.save(d / "feast_dropped_row_ids.npy", dropped)
        best = min(times)
        emit_result({"best": best, "median": sorted(times)[len(times) // 2], "times": times,
                     "cpu_best": cpu[times.index(best)], "rows": rows, "checksums": sums, "dropped": int(len(dropped)),
                     "base_rss_kb": base_rss_kb, "note": f"feast {feast.__version__}, offline_store: file (dask); "
                     "warm-up on 1,000 entity rows; output row order is Feast's own (checksums are by row_id)"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
