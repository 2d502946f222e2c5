#!/usr/bin/env python3
"""Point-in-time (as-of) join benchmark: strata vs DuckDB's ASOF JOIN vs pandas merge_asof, on the
same data in the same run (the core of feature-store training-set retrieval).

    .venv/bin/python bench/features/bench_asof.py --quick       # 100k entity rows x 1M feature rows
    .venv/bin/python bench/features/bench_asof.py               # 1M entity rows x 10M feature rows
    .venv/bin/python bench/features/bench_asof.py --only strata,duckdb --repeat 5

Data (numpy, seeded, cached as Arrow IPC files under bench/out/features/): an entity frame of
`--entity-rows` rows (int64 driver_id drawn over `--keys` entities plus 1% unknown ones, a
timestamp[us] event_timestamp uniform over 30 days, an int64 `label` = the row number) and a
feature view of `--rows` rows (driver_id over `--keys` entities, timestamp[us] ts over the same 30
days, distinct within each key so that every engine's answer is unique, float64 conv_rate, float32
acc_rate, int64 trips), in random order.

Engines (--only, comma list):
- strata:       strata._strata.point_in_time_join with a 4 GiB memory budget (joined in memory).
- strata-spill: the same with the default 512 MiB budget (a 10M-row view is spilled to Arrow IPC
                partition files and joined out of core).
- duckdb:       `e ASOF LEFT JOIN f ON e.driver_id = f.driver_id AND e.event_timestamp >= f.ts`,
                ORDER BY the entity row number (strata keeps the entity order; so must the peer),
                to an Arrow table.
- pandas:       merge_asof(by="driver_id", direction="backward") of the two frames sorted by time,
                then sorted back to entity order. Timed from pandas DataFrames (the Arrow->pandas
                conversion is untimed setup).

Every (engine) runs in its own fresh subprocess, so the peak RSS printed is that engine's alone
(wait4 ru_maxrss of the child: interpreter, libraries, the memory-mapped inputs it touched and the
untimed checks included). Each worker runs the join once untimed, then best-of-N; CPU seconds are
process CPU time (user+sys, all threads) of the best run. After every run (warm-up included) the
output is checked against a numpy oracle (a searchsorted as-of over (key, time)): row count, entity
order, the number of rows without a match, sum(trips) and an order-sensitive checksum of trips;
a mismatch is reported as FAIL and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH_DIR))
from common import (  # noqa: E402
    OUT_DIR,
    REPO_DIR,
    bench,
    emit_result,
    fmt_mib,
    fmt_ratio,
    fmt_s,
    machine_info,
    markdown_table,
    print_machine_info,
    print_table,
    result_field,
    run_worker,
    save_results,
    worker_env,
)

SCRIPT = Path(__file__).resolve()
SEED = 20261125
SPAN_US = 30 * 86_400 * 1_000_000  # 30 days
ALL_ENGINES = ("strata", "strata-spill", "duckdb", "pandas")
BUDGET = {"strata": 4 << 30, "strata-spill": 512 << 20}


# =================================================================================================
# Data
# =================================================================================================
def paths(a) -> dict[str, Path]:
    base = OUT_DIR / "features"
    tag = f"{a.entity_rows}x{a.rows}_k{a.keys}"
    return {
        "base": base,
        "entity": base / f"entity_{tag}.arrow",
        "features": base / f"features_{tag}.arrow",
        "expected": base / f"expected_{tag}.json",
    }


def checksums(trips, valid, label) -> dict:
    """What every engine's output must reproduce (numpy arrays: trips with 0 where unmatched)."""
    import numpy as np

    n = len(trips)
    pos = np.arange(1, n + 1, dtype=np.uint64)
    t = np.where(valid, trips, 0).astype(np.uint64)
    return {
        "rows": int(n),
        "unmatched": int(n - int(valid.sum())),
        "trips_sum": int(t.sum(dtype=np.uint64)),
        "trips_weighted": int((t * pos).sum(dtype=np.uint64)),  # wraps mod 2^64: order-sensitive
        "label_in_order": bool(np.array_equal(label, np.arange(n))),
    }


def w_gen(a) -> dict:
    """Generates both frames and the oracle's checksums."""
    import numpy as np
    import pyarrow as pa

    p = paths(a)
    p["base"].mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    t0 = time.perf_counter()
    # Feature rows: (key, ts) distinct, so the as-of answer is unique for every engine.
    n = a.rows
    key = rng.integers(0, a.keys, n + n // 50 + 1000, dtype=np.int64)
    ts = rng.integers(0, SPAN_US, len(key), dtype=np.int64)
    comp = np.unique((key << 42) | ts)  # ts < 2^42 us (50 days); also sorts by (key, ts)
    comp = comp[rng.permutation(len(comp))[:n]]
    fkey, fts = comp >> 42, comp & ((1 << 42) - 1)
    feats = pa.table({
        "driver_id": pa.array(fkey),
        "ts": pa.array(fts, pa.timestamp("us")),
        "conv_rate": pa.array(rng.random(len(fkey))),
        "acc_rate": pa.array(rng.random(len(fkey)).astype(np.float32)),
        "trips": pa.array(rng.integers(0, 10_000, len(fkey), dtype=np.int64)),
    })
    m = a.entity_rows
    ekey = rng.integers(0, a.keys + a.keys // 100, m, dtype=np.int64)  # ~1% entities without rows
    ets = rng.integers(0, SPAN_US, m, dtype=np.int64)
    entity = pa.table({
        "driver_id": pa.array(ekey),
        "event_timestamp": pa.array(ets, pa.timestamp("us")),
        "label": pa.array(np.arange(m, dtype=np.int64)),
    })
    for path, t in ((p["features"], feats), (p["entity"], entity)):
        with pa.OSFile(str(path), "wb") as f, pa.ipc.new_file(f, t.schema) as w:
            w.write_table(t, max_chunksize=1 << 20)
    # The oracle: the last (key, ts) <= (key, T) in sorted order, if it has the same key.
    order = np.argsort(comp, kind="stable")
    sorted_comp = comp[order]
    idx = np.searchsorted(sorted_comp, (ekey << 42) | ets, side="right") - 1
    hit = (idx >= 0) & ((sorted_comp[np.maximum(idx, 0)] >> 42) == ekey)
    trips = feats["trips"].to_numpy()[order[np.maximum(idx, 0)]]
    exp = checksums(trips, hit, np.arange(m))
    exp.update(entity_rows=m, feature_rows=int(len(fkey)), keys=a.keys, gen_seconds=time.perf_counter() - t0,
               entity_mib=round(p["entity"].stat().st_size / 2**20, 1),
               features_mib=round(p["features"].stat().st_size / 2**20, 1))
    p["expected"].write_text(json.dumps(exp))
    return exp


def load(path: Path):
    """A memory-mapped Arrow IPC file as a pyarrow Table (zero copy)."""
    import pyarrow as pa

    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()


def check(out, exp: dict) -> dict:
    """Compares one engine's output (pyarrow Table or pandas DataFrame) with the oracle."""
    import numpy as np
    import pyarrow as pa

    if isinstance(out, pa.Table):
        trips = out["trips"].to_numpy(zero_copy_only=False)
        valid = out["trips"].is_valid().to_numpy(zero_copy_only=False)
        conv_nulls = out["conv_rate"].null_count
        label = out["label"].to_numpy()
        trips = np.where(valid, np.nan_to_num(trips.astype(np.float64)), 0).astype(np.int64)
    else:
        valid = out["trips"].notna().to_numpy()
        conv_nulls = int(out["conv_rate"].isna().sum())
        trips = out["trips"].fillna(0).to_numpy().astype(np.int64)
        label = out["label"].to_numpy()
    got = checksums(trips, valid, label)
    problems = [f"{k} {got[k]} != expected {exp[k]}" for k in ("rows", "unmatched", "trips_sum", "trips_weighted")
                if got[k] != exp[k]]
    if not got["label_in_order"]:
        problems.append("rows are not in entity order")
    if conv_nulls != exp["unmatched"]:
        problems.append(f"conv_rate nulls {conv_nulls} != expected {exp['unmatched']}")
    return {"ok": not problems, "problems": problems, **got}


# =================================================================================================
# Workers
# =================================================================================================
def w_join(a) -> dict:
    p = paths(a)
    exp = json.loads(p["expected"].read_text())
    entity, feats = load(p["entity"]), load(p["features"])
    stats: dict = {}
    if a.engine.startswith("strata"):
        import pyarrow as pa
        from strata import _strata

        if not hasattr(_strata, "point_in_time_join"):
            raise RuntimeError(f"{_strata.__file__} has no point_in_time_join (see --strata-path)")
        view = dict(name="driver_stats", data=feats, join_keys=["driver_id"], timestamp_column="ts",
                    features=["conv_rate", "acc_rate", "trips"])

        def fn():
            cap, st = _strata.point_in_time_join(entity, [view], memory_budget_bytes=BUDGET[a.engine],
                                                 return_stats=True)
            stats.update(st)
            return pa.RecordBatchReader._import_from_c_capsule(cap).read_all()

    elif a.engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.register("e", entity)
        con.register("f", feats)
        q = ("SELECT e.*, f.conv_rate, f.acc_rate, f.trips FROM e ASOF LEFT JOIN f "
             "ON e.driver_id = f.driver_id AND e.event_timestamp >= f.ts ORDER BY e.label")

        def fn():
            return con.sql(q).to_arrow_table()

    elif a.engine == "pandas":
        import pandas as pd

        edf, fdf = entity.to_pandas(), feats.to_pandas()

        def fn():
            left = edf.sort_values("event_timestamp", kind="stable")
            right = fdf.sort_values("ts", kind="stable")
            out = pd.merge_asof(left, right[["driver_id", "ts", "conv_rate", "acc_rate", "trips"]],
                                left_on="event_timestamp", right_on="ts", by="driver_id", direction="backward",
                                allow_exact_matches=True)
            return out.sort_values("label", kind="stable").reset_index(drop=True)

    else:
        raise ValueError(a.engine)

    cpu: list[float] = []

    def run():
        c0 = time.process_time()
        v = fn()
        cpu.append(time.process_time() - c0)
        return v

    r = bench(run, repeat=a.repeat, warmup=1, after=lambda out: check(out, exp))
    checks = r["after"]
    return {
        "best": r["best"],
        "median": r["median"],
        "times": r["times"],
        "cpu_best": cpu[1:][r["times"].index(r["best"])],
        "cpu_times": cpu[1:],
        "checks": checks,
        "check_ok": all(c["ok"] for c in checks),
        "stats": stats,
    }


WORKERS = {"gen": w_gen, "join": w_join}


# =================================================================================================
# Driver
# =================================================================================================
def call(a, op: str, engine: str = "-") -> dict:
    argv = [sys.executable, str(SCRIPT), "--worker", op, "--engine", engine, "--rows", str(a.rows),
            "--entity-rows", str(a.entity_rows), "--keys", str(a.keys), "--repeat", str(a.repeat)]
    if a.strata_path:
        argv += ["--strata-path", str(Path(a.strata_path).resolve())]
    label = f"{op}:{engine}" if engine != "-" else op
    print(f"  .. {label:<20}", end="", flush=True)
    r = run_worker(argv, env=worker_env(), timeout=a.timeout)
    print(f" done in {r['worker_wall_s']:.1f}s (peak RSS {fmt_mib(r.get('peak_rss_kb'))})", flush=True)
    for i, c in enumerate(r.get("checks") or []):
        if not c["ok"]:
            run = "warm-up" if i == 0 else f"timed run {i}"
            print(f"     FAIL: {label} {run}: " + "; ".join(c["problems"]), flush=True)
    return r


def versions(a) -> dict[str, str]:
    import duckdb
    import numpy
    import pandas
    import pyarrow

    return {"duckdb": duckdb.__version__, "pandas": pandas.__version__, "pyarrow": pyarrow.__version__,
            "numpy": numpy.__version__, "strata": str(Path(a.strata_path).resolve()) if a.strata_path
            else str(REPO_DIR / "python")}


HEADERS = ["engine", "time (best)", "median", "CPU s", "strata/engine time", "speedup engine/strata",
           "peak RSS", "check"]


def build_report(a, res: dict) -> dict:
    s = result_field(res, "strata")
    rows, notes = [], []
    for eng in a.engines:
        r = res.get(eng) or {}
        t = result_field(res, eng)
        ratio = s / t if s and t else None
        speed = t / s if s and t else None
        check_s = "ERROR" if "error" in r else ("ok" if r.get("check_ok") else "FAIL")
        rows.append({
            "cells": [eng, fmt_s(t) if t is not None else "ERROR", fmt_s(result_field(res, eng, "median")),
                      fmt_s(result_field(res, eng, "cpu_best")), fmt_ratio(ratio) if eng != "strata" else "-",
                      fmt_ratio(speed) if eng != "strata" else "-", fmt_mib(result_field(res, eng, "peak_rss_kb")),
                      check_s],
            "raw": {"best_s": t, "ratio_strata_over_engine": ratio, "speedup": speed,
                    "peak_rss_kb": result_field(res, eng, "peak_rss_kb"), "cpu_s": result_field(res, eng, "cpu_best")},
        })
    all_ok = True
    for k, r in res.items():
        if "error" in r:
            all_ok = False
            notes.append(f"{k}: ERROR {r['error'].splitlines()[0][:200]}")
        for i, c in enumerate(r.get("checks") or []):
            if not c["ok"]:
                all_ok = False
                notes.append(f"FAIL {k} run {i}: " + "; ".join(c["problems"]))
        if r.get("stats"):
            notes.append(f"{k} stats (last run): {json.dumps(r['stats'])}; times {[round(x, 3) for x in r['times']]} s")
        elif "times" in r:
            notes.append(f"{k}: times {[round(x, 3) for x in r['times']]} s")
    if all_ok:
        n = sum(len(r.get("checks") or []) for r in res.values())
        notes.append(f"correctness: all {n} runs (warm-ups included) matched the numpy oracle (row count, entity "
                     f"order, unmatched rows, sum and order-sensitive checksum of trips).")
    return {"rows": rows, "notes": notes, "all_checks_ok": all_ok}


def print_report(report) -> None:
    print_table(HEADERS, [r["cells"] for r in report["rows"]])
    print("\n'strata/engine time' < 1 means strata is faster; 'speedup' > 1 means strata is faster.")
    print("peak RSS: per engine, each in a fresh subprocess (interpreter, libraries, memory-mapped inputs and")
    print("          untimed checks included). CPU s: process CPU time (user+sys, all threads) of the best run.")
    for n in report["notes"]:
        print(" - " + n)


def run(a) -> int:
    mi = machine_info()
    vers = versions(a)
    print("=" * 100)
    print(f"strata point-in-time join benchmark  entity rows={a.entity_rows:,}  feature rows={a.rows:,}  "
          f"keys={a.keys:,}  repeat=best-of-{a.repeat} (after 1 warm-up run)")
    print_machine_info(mi, {"versions": "  ".join(f"{k} {v}" for k, v in vers.items())})
    print("=" * 100)
    t_start = time.perf_counter()
    p = paths(a)
    print("data (cached under bench/out/features/):")
    if a.force_data or not all(p[k].exists() for k in ("entity", "features", "expected")):
        call(a, "gen")
    exp = json.loads(p["expected"].read_text())
    print(f"  entity {exp['entity_rows']:,} rows ({exp['entity_mib']} MiB), features {exp['feature_rows']:,} rows "
          f"({exp['features_mib']} MiB), {exp['keys']:,} keys; oracle: {exp['unmatched']:,} entity rows without a match")
    res: dict[str, dict] = {}
    print("measuring (one fresh subprocess per engine):")
    for eng in a.engines:
        try:
            res[eng] = call(a, "join", eng)
        except Exception as e:  # keep going: report the failure in the table
            print(f" FAILED: {str(e).splitlines()[0]}")
            res[eng] = {"error": str(e)}
            sys.stderr.write(str(e)[-4000:] + "\n")
    total = time.perf_counter() - t_start
    report = build_report(a, res)
    print()
    print_report(report)
    print(f"\nbenchmark wall time: {total:.0f} s   load average at end: {tuple(round(x, 2) for x in os.getloadavg())}")
    out = {"machine": mi, "versions": vers, "entity_rows": a.entity_rows, "rows": a.rows, "keys": a.keys,
           "repeat": a.repeat, "results": res, "expected": exp, "report": report, "wall_s": total,
           "loadavg_end": os.getloadavg()}
    md = markdown_table(HEADERS, [r["cells"] for r in report["rows"]]) + "\n\n" + "\n".join(
        "- " + n for n in report["notes"]) + "\n"
    save_results("features", a.rows, out, md)
    return 0 if report["all_checks_ok"] else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000, help="feature view rows")
    ap.add_argument("--entity-rows", type=int, default=1_000_000, help="entity frame rows")
    ap.add_argument("--keys", type=int, default=100_000, help="distinct entities in the feature view")
    ap.add_argument("--quick", action="store_true", help="100,000 entity rows x 1,000,000 feature rows, 10,000 keys")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (best-of), after one warm-up run")
    ap.add_argument("--only", default=",".join(ALL_ENGINES), help="comma list of: " + ", ".join(ALL_ENGINES))
    ap.add_argument("--strata-path", default="",
                    help="directory holding the strata package to measure (default: the repository's python/)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per worker subprocess")
    ap.add_argument("--force-data", action="store_true", help="regenerate the cached data")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.quick:
        a.rows, a.entity_rows, a.keys = 1_000_000, 100_000, 10_000
    a.engines = [x.strip() for x in a.only.split(",") if x.strip()]
    bad = [x for x in a.engines if x not in ALL_ENGINES]
    if bad and not a.worker:
        ap.error(f"unknown engine(s) {bad}; choose from {', '.join(ALL_ENGINES)}")
    if a.worker:
        sys.path.insert(0, str(Path(a.strata_path).resolve()) if a.strata_path else str(REPO_DIR / "python"))
        emit_result(WORKERS[a.worker](a))
        return 0
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
