#!/usr/bin/env python3
"""DML benchmark: MERGE, DELETE and OPTIMIZE, strata vs delta-rs (deltalake) on the same tables.

    .venv/bin/python bench/merge/bench_merge.py --quick        # 1M-row target, 100k-row source
    .venv/bin/python bench/merge/bench_merge.py                # 10M-row target, 1M-row source
    .venv/bin/python bench/merge/bench_merge.py --rows 5000000 --only merge,merge_dv

Operations (--only): merge (copy-on-write, both engines), merge_dv (strata with deletion vectors
vs the same delta-rs copy-on-write run), delete (1% of rows, every file touched: strata with
deletion vectors, strata copy-on-write, delta-rs), optimize (compact 1,000 small files into
128 MiB files), optimize_z (Z-order the same table on two numeric columns; informational).

Every measured (operation, engine) pair runs in its own fresh subprocess, so the peak RSS
printed is that operation's alone (wait4 ru_maxrss of the child; it includes the interpreter,
the libraries, the memory-mapped source and the untimed correctness checks). Each timed run
starts from a fresh copy of a cached fixture table (the copy is untimed setup); each worker runs
its operation once untimed (page cache, lazy imports), then best-of-N. After every run (warm-up
included) the result is checked: row count and the sum of the int32 `qty` column must equal the
values computed with numpy from the input data; a mismatch is reported as FAIL.
Data and fixture tables are cached under bench/out/ (gitignored); results go to bench/out/merge/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR / "table"))
from common import (  # noqa: E402
    OUT_DIR,
    REPO_DIR,
    bench,
    dir_size,
    emit_result,
    fmt_mib,
    fmt_ratio,
    fmt_s,
    machine_info,
    markdown_table,
    print_machine_info,
    print_table,
    result_field,
    rmtree,
    rss_kb,
    run_worker,
    save_results,
    worker_env,
)
import bench_table as bt  # noqa: E402  (same generated data as the table benchmark)

SCRIPT = Path(__file__).resolve()
TARGET_FILE_SIZE = 128 * 1024 * 1024
DELETE_PREDICATE = "id % 100 = 7"  # 1% of rows, spread over every file
MERGE_SEED = 20261125
ALL_OPS = ("merge", "merge_dv", "delete", "optimize", "optimize_z")


# =================================================================================================
# Paths and data
# =================================================================================================
def paths(a) -> dict[str, Path]:
    base = OUT_DIR / "merge"
    rows = a.rows
    return {
        "base": base,
        "data": bt.paths(rows)["data"],  # shared with bench/table (same generator and seed)
        "source": base / f"source_{rows}.arrow",
        "expected": base / f"expected_{rows}.json",
        "target": base / f"target_{rows}",  # copy-on-write table (no deletion vectors)
        "target_dv": base / f"target_dv_{rows}",  # delta.enableDeletionVectors=true
        "small": base / f"small_{rows}_{a.small_files}",  # many small files (optimize)
        "probe": base / "dv_probe",
        "scratch": base / "scratch",
    }


def fixture_meta(p: Path) -> Path:
    return p.with_name(p.name + ".json")


def make_rows(ids, rng, schema):
    """A record batch with bench_table's 8 columns for the given ids (fresh random values)."""
    import numpy as np
    import pyarrow as pa

    n = len(ids)
    cats = pa.array(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"])
    users = pa.array([f"user_{k:04d}_{(k * 2654435761) % 99991:05d}" for k in range(1000)])
    base_us = 1_767_225_600_000_000
    cat = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 10, n, dtype=np.int32)), cats)
    usr = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 1000, n, dtype=np.int32)), users)
    return pa.record_batch(
        [
            pa.array(ids),
            pa.array(rng.integers(0, 1_000_000, n, dtype=np.int32)),
            pa.array(np.round(rng.random(n) * 1000.0, 2)),
            pa.array(rng.standard_normal(n)),
            pa.array(base_us + ids * 1000 + rng.integers(0, 1000, n), type=pa.timestamp("us", tz="UTC")),
            cat.dictionary_decode(),
            usr.dictionary_decode(),
            pa.array(rng.random(n) < 0.5),
        ],
        schema=schema,
    )


# =================================================================================================
# Correctness checks (untimed, after every run)
# =================================================================================================
def read_qty(engine: str, path: Path):
    """(row count, sum of qty) read back by the engine that wrote the table."""
    import pyarrow.compute as pc

    if engine.startswith("strata"):
        import strata

        col = strata.Table(str(path)).to_arrow(columns=["qty"])["qty"]
    else:
        from deltalake import DeltaTable

        col = DeltaTable(str(path)).to_pyarrow_dataset().to_table(columns=["qty"])["qty"]
    return len(col), int(pc.sum(col).as_py() or 0)


def num_files(engine: str, path: Path) -> int:
    if engine.startswith("strata"):
        import strata

        return len(strata.Table(str(path)).files())
    from deltalake import DeltaTable

    return len(DeltaTable(str(path)).file_uris())


def check(engine: str, path: Path, rows: int, qty_sum: int, extra: dict | None = None) -> dict:
    n, s = read_qty(engine, path)
    problems = []
    if n != rows:
        problems.append(f"row count {n:,} != expected {rows:,}")
    if s != qty_sum:
        problems.append(f"sum(qty) {s:,} != expected {qty_sum:,}")
    for k, (got, want) in (extra or {}).items():
        if got != want:
            problems.append(f"{k} {got} != expected {want}")
    return {"ok": not problems, "rows": n, "qty_sum": s, "files": num_files(engine, path), "problems": problems}


def jsonable(v):
    return json.loads(json.dumps(v, default=str))


# =================================================================================================
# Workers: each runs in a fresh subprocess and emits one JSON result
# =================================================================================================
def w_gen(a) -> dict:
    p = paths(a)
    t0 = time.perf_counter()
    bt.generate_data(a.rows, p["data"])
    return {"seconds": time.perf_counter() - t0, "bytes": p["data"].stat().st_size}


def w_prep_source(a) -> dict:
    """The MERGE source (rows/10 rows: half updates of existing ids drawn uniformly without
    replacement, half inserts of new ids, shuffled) and the expected results, all with numpy."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    p = paths(a)
    data = bt.load_data(p["data"])
    rng = np.random.default_rng(MERGE_SEED)
    n_src = max(2, a.rows // 10)
    n_upd = n_src // 2
    n_ins = n_src - n_upd
    upd_ids = rng.choice(a.rows, size=n_upd, replace=False).astype(np.int64)
    ins_ids = np.arange(a.rows, a.rows + n_ins, dtype=np.int64)
    ids = np.concatenate([upd_ids, ins_ids])[rng.permutation(n_src)]
    p["base"].mkdir(parents=True, exist_ok=True)
    tmp = p["source"].with_suffix(".tmp")
    src_qty_sum = 0
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, data.schema) as w:
        for start in range(0, n_src, bt.BATCH_ROWS):
            b = make_rows(ids[start:start + bt.BATCH_ROWS], rng, data.schema)
            src_qty_sum += int(pc.sum(b.column(1)).as_py())
            w.write_batch(b)
    tmp.rename(p["source"])

    # Target ids are 0..rows-1 in order, so a target row's index is its id.
    qty = data.column("qty").to_numpy().astype(np.int64)
    assert data.column("id").to_numpy()[-1] == a.rows - 1
    total = int(qty.sum())
    deleted = (np.arange(a.rows, dtype=np.int64) % 100) == 7
    exp = {
        "rows": a.rows,
        "qty_sum": total,
        "source_rows": n_src,
        "source_updates": n_upd,
        "source_inserts": n_ins,
        "merge_rows": a.rows + n_ins,
        "merge_qty_sum": total - int(qty[upd_ids].sum()) + src_qty_sum,
        "delete_predicate": DELETE_PREDICATE,
        "delete_rows_deleted": int(deleted.sum()),
        "delete_rows": a.rows - int(deleted.sum()),
        "delete_qty_sum": total - int(qty[deleted].sum()),
    }
    p["expected"].write_text(json.dumps(exp))
    return exp


def w_prep_target(a) -> dict:
    """The MERGE/DELETE target: the whole data set in one strata write, ~128 MiB files
    (engine "dv": with delta.enableDeletionVectors=true)."""
    import strata

    p = paths(a)
    dest = p["target_dv"] if a.engine == "dv" else p["target"]
    conf = {"delta.enableDeletionVectors": "true"} if a.engine == "dv" else None
    rmtree(dest)
    data = bt.load_data(p["data"])
    strata.write_table(str(dest), data, mode="overwrite", configuration=conf, target_file_size=TARGET_FILE_SIZE,
                       compression="snappy")
    files = strata.Table(str(dest)).files()
    meta = {"files": len(files), "bytes": dir_size(dest), "rows": data.num_rows,
            "file_mib": [round(f["size"] / 2**20, 1) for f in files], "configuration": conf or {}}
    fixture_meta(dest).write_text(json.dumps(meta))
    return meta


def w_prep_small(a) -> dict:
    """a.small_files appends of rows/small_files rows each (one small file per commit)."""
    import strata

    p = paths(a)
    dest = p["small"]
    rmtree(dest)
    data = bt.load_data(p["data"])
    step = -(-a.rows // a.small_files)
    t0 = time.perf_counter()
    for start in range(0, a.rows, step):
        strata.write_table(str(dest), data.slice(start, step), mode="append", compression="snappy")
    t = strata.Table(str(dest))
    meta = {"files": len(t.files()), "bytes": dir_size(dest), "rows": t.count(), "version": t.version,
            "rows_per_file": step, "build_seconds": time.perf_counter() - t0}
    fixture_meta(dest).write_text(json.dumps(meta))
    return meta


def w_dv_probe(a) -> dict:
    """Does delta-rs write deletion vectors? Runs its DELETE and MERGE on a small strata table with
    delta.enableDeletionVectors=true and looks for `deletionVector` in the add actions it commits."""
    import pyarrow as pa
    import strata
    from deltalake import DeltaTable

    p = paths(a)
    dest = p["probe"]
    rmtree(dest)
    t = pa.table({"id": pa.array(range(10_000), pa.int64()), "v": pa.array(range(10_000), pa.int64())})
    strata.write_table(str(dest), t, configuration={"delta.enableDeletionVectors": "true"})
    out = {"reader_features": strata.Table(str(dest)).protocol["reader_features"]}
    dt = DeltaTable(str(dest))
    out["delete_metrics"] = jsonable(dt.delete("id % 100 = 7"))
    src = pa.table({"id": pa.array([1, 20_000], pa.int64()), "v": pa.array([5, 6], pa.int64())})
    out["merge_metrics"] = jsonable(
        DeltaTable(str(dest)).merge(src, predicate="t.id = s.id", source_alias="s", target_alias="t")
        .when_matched_update_all().when_not_matched_insert_all().execute()
    )
    dv_adds = adds = removes = 0
    for f in sorted((dest / "_delta_log").glob("*.json"))[1:]:
        for line in f.read_text().splitlines():
            act = json.loads(line)
            if "add" in act:
                adds += 1
                dv_adds += bool(act["add"].get("deletionVector"))
            removes += "remove" in act
    out.update(adds=adds, removes=removes, adds_with_deletion_vector=dv_adds,
               delete_doc=" ".join((DeltaTable.delete.__doc__ or "").split())[:400])
    rmtree(dest)
    return out


def _delta_props():
    from deltalake import WriterProperties

    # delta-rs DELETE and OPTIMIZE default to zstd; every engine writes snappy here.
    return WriterProperties(compression="SNAPPY")


def _timed_on_copy(a, fixture: Path, fn_for, after_for) -> dict:
    """best-of-N of fn on a fresh copy of `fixture` for every run (copy = untimed setup)."""
    p = paths(a)
    work = p["scratch"] / f"{a.worker}_{a.engine}"
    base_rss, _ = rss_kb()

    def setup():
        rmtree(work)
        shutil.copytree(fixture, work)

    cpu: list[float] = []  # process CPU seconds (user+sys, all threads) of each run: less
    # sensitive than wall time to other work on the machine

    def run():
        c0 = time.process_time()
        v = fn_for(work)
        cpu.append(time.process_time() - c0)
        return v

    r = bench(run, repeat=a.repeat, warmup=1, setup=setup, after=lambda v: after_for(work, v))
    rmtree(work)
    checks = r["after"]
    return {
        "best": r["best"],
        "median": r["median"],
        "times": r["times"],
        "cpu_best": min(cpu[1:]),
        "cpu_times": cpu[1:],
        "metrics": jsonable(r["value"]),
        "checks": checks,
        "check_ok": all(c["ok"] for c in checks),
        "rss_base_kb": base_rss,
    }


def w_merge(a) -> dict:
    """MERGE (update all matched, insert all not matched); op merge_dv: on the DV table."""
    p = paths(a)
    exp = json.loads(p["expected"].read_text())
    src = bt.load_data(p["source"])  # memory-mapped
    fixture = p["target_dv"] if a.worker == "merge_dv" else p["target"]
    if a.engine == "strata":
        import strata

        def fn(work):
            return (strata.Table(str(work)).merge(src, on="t.id = s.id", source_alias="s", target_alias="t")
                    .when_matched_update_all().when_not_matched_insert_all().execute())

        def counts(m):
            return m.get("num_target_rows_updated"), m.get("num_target_rows_inserted")

    elif a.engine == "delta-rs":
        from deltalake import DeltaTable

        props = _delta_props()

        def fn(work):
            return (DeltaTable(str(work)).merge(src, predicate="t.id = s.id", source_alias="s", target_alias="t",
                                                writer_properties=props)
                    .when_matched_update_all().when_not_matched_insert_all().execute())

        def counts(m):
            return m.get("num_target_rows_updated"), m.get("num_target_rows_inserted")

    else:
        raise ValueError(a.engine)

    def after(work, m):
        upd, ins = counts(m)
        return check(a.engine, work, exp["merge_rows"], exp["merge_qty_sum"],
                     {"rows updated": (upd, exp["source_updates"]), "rows inserted": (ins, exp["source_inserts"])})

    out = _timed_on_copy(a, fixture, fn, after)
    out["fixture"] = json.loads(fixture_meta(fixture).read_text())
    return out


def w_delete(a) -> dict:
    p = paths(a)
    exp = json.loads(p["expected"].read_text())
    if a.engine == "strata-dv":
        import strata

        fixture = p["target_dv"]

        def fn(work):
            return strata.Table(str(work)).delete(DELETE_PREDICATE)

    elif a.engine == "strata-cow":
        import strata

        fixture = p["target"]

        def fn(work):
            return strata.Table(str(work)).delete(DELETE_PREDICATE)

    elif a.engine == "delta-rs":
        from deltalake import DeltaTable

        props = _delta_props()
        fixture = p["target"]

        def fn(work):
            return DeltaTable(str(work)).delete(DELETE_PREDICATE, writer_properties=props)

    else:
        raise ValueError(a.engine)

    def after(work, m):
        got = m.get("rows_deleted", m.get("num_deleted_rows"))
        return check(a.engine, work, exp["delete_rows"], exp["delete_qty_sum"],
                     {"rows deleted": (got, exp["delete_rows_deleted"])})

    out = _timed_on_copy(a, fixture, fn, after)
    out["fixture"] = json.loads(fixture_meta(fixture).read_text())
    return out


def w_optimize(a) -> dict:
    """Compaction (op optimize) or Z-order (op optimize_z) of the many-small-files table."""
    p = paths(a)
    exp = json.loads(p["expected"].read_text())
    zcols = [c for c in a.z_cols.split(",") if c] if a.worker == "optimize_z" else []
    if a.engine == "strata":
        import strata

        def fn(work):
            return strata.Table(str(work)).optimize(z_order=zcols or None)

    elif a.engine == "delta-rs":
        from deltalake import DeltaTable

        props = _delta_props()

        def fn(work):
            opt = DeltaTable(str(work)).optimize
            if zcols:
                return opt.z_order(zcols, target_size=TARGET_FILE_SIZE, writer_properties=props)
            return opt.compact(target_size=TARGET_FILE_SIZE, writer_properties=props)

    else:
        raise ValueError(a.engine)

    def after(work, m):
        return check(a.engine, work, exp["rows"], exp["qty_sum"])

    out = _timed_on_copy(a, p["small"], fn, after)
    out["fixture"] = json.loads(fixture_meta(p["small"]).read_text())
    out["z_order"] = zcols
    return out


WORKERS = {
    "gen": w_gen,
    "prep_source": w_prep_source,
    "prep_target": w_prep_target,
    "prep_small": w_prep_small,
    "dv_probe": w_dv_probe,
    "merge": w_merge,
    "merge_dv": w_merge,
    "delete": w_delete,
    "optimize": w_optimize,
    "optimize_z": w_optimize,
}


# =================================================================================================
# Driver
# =================================================================================================
def call(a, op: str, engine: str = "") -> dict:
    argv = [
        sys.executable, str(SCRIPT), "--worker", op, "--engine", engine or "-", "--rows", str(a.rows),
        "--repeat", str(a.repeat), "--small-files", str(a.small_files), "--z-cols", a.z_cols,
    ]
    label = f"{op}:{engine}" if engine else op
    print(f"  .. {label:<20}", end="", flush=True)
    r = run_worker(argv, env=worker_env(), timeout=a.timeout)
    print(f" done in {r['worker_wall_s']:.1f}s (peak RSS {fmt_mib(r.get('peak_rss_kb'))})", flush=True)
    for i, c in enumerate(r.get("checks") or []):
        if not c["ok"]:
            run = "warm-up" if i == 0 else f"timed run {i}"
            print(f"     FAIL: {label} {run}: " + "; ".join(c["problems"]), flush=True)
    return r


def versions() -> dict[str, str]:
    import deltalake
    import numpy
    import pyarrow

    sys.path.insert(0, str(REPO_DIR / "python"))
    import strata

    return {"strata": strata.__version__, "deltalake": deltalake.__version__, "pyarrow": pyarrow.__version__,
            "numpy": numpy.__version__}


def prepare(a) -> dict:
    p = paths(a)
    p["base"].mkdir(parents=True, exist_ok=True)
    info: dict = {}
    print("fixtures (cached under bench/out/merge/, input data under bench/out/table/):")
    if not p["data"].exists():
        call(a, "gen")
    if a.force_fixtures or not p["expected"].exists() or not p["source"].exists():
        call(a, "prep_source")
    info["expected"] = json.loads(p["expected"].read_text())

    def fixture(key, op, engine=""):
        dest = p[key]
        if a.force_fixtures or not (dest / "_delta_log").exists() or not fixture_meta(dest).exists():
            call(a, op, engine)
        info[key] = json.loads(fixture_meta(dest).read_text())

    if {"merge", "merge_dv", "delete"} & set(a.ops):
        fixture("target", "prep_target", "cow")
    if {"merge_dv", "delete"} & set(a.ops):
        fixture("target_dv", "prep_target", "dv")
    if {"optimize", "optimize_z"} & set(a.ops):
        fixture("small", "prep_small")
    if {"merge_dv", "delete"} & set(a.ops):
        print("does delta-rs write deletion vectors?")
        info["dv_probe"] = call(a, "dv_probe")
    return info


def run(a) -> int:
    mi = machine_info()
    vers = versions()
    print("=" * 100)
    print(f"strata DML benchmark  target rows={a.rows:,}  source rows={a.rows // 10:,}  "
          f"repeat=best-of-{a.repeat} (after 1 warm-up run)")
    print_machine_info(mi, {"versions": "  ".join(f"{k} {v}" for k, v in vers.items())})
    print("=" * 100)
    t_start = time.perf_counter()
    info = prepare(a)
    res: dict[str, dict] = {}
    print("measuring (one fresh subprocess per operation and engine, fresh fixture copy per run):")
    plan = {
        "merge": [("merge", "strata"), ("merge", "delta-rs")],
        "merge_dv": [("merge_dv", "strata"), ("merge", "delta-rs")],  # same delta-rs COW baseline
        "delete": [("delete", "strata-dv"), ("delete", "strata-cow"), ("delete", "delta-rs")],
        "optimize": [("optimize", "strata"), ("optimize", "delta-rs")],
        "optimize_z": [("optimize_z", "strata"), ("optimize_z", "delta-rs")],
    }
    for op in ALL_OPS:
        if op not in a.ops:
            continue
        for wop, eng in plan[op]:
            key = f"{wop}:{eng}"
            if key in res:
                continue
            try:
                res[key] = call(a, wop, eng)
            except Exception as e:  # keep going: report the failure in the table
                print(f" FAILED: {str(e).splitlines()[0]}")
                res[key] = {"error": str(e)}
                sys.stderr.write(str(e)[-4000:] + "\n")
    total = time.perf_counter() - t_start
    report = build_report(a, res, info)
    print()
    print_report(report)
    print(f"\nbenchmark wall time: {total:.0f} s   load average at end: {tuple(round(x, 2) for x in os.getloadavg())}")
    out = {
        "machine": mi,
        "versions": vers,
        "rows": a.rows,
        "repeat": a.repeat,
        "results": res,
        "fixtures": info,
        "report": report,
        "wall_s": total,
        "loadavg_end": os.getloadavg(),
    }
    save_results("merge", a.rows, out, report_markdown(report))
    return 0 if report["all_checks_ok"] else 1


# --- reporting ----------------------------------------------------------------------------------
def build_report(a, res, info) -> dict:
    """Rows: operation, strata, peer, times, strata/peer time ratio (lower is better), speedup
    (peer time / strata time, higher is better), peak RSS of each and their ratio, target."""
    rows = []

    def add(op, peer, s_key, p_key, speed_target=None, rss_target=None):
        s, pv = result_field(res, s_key), result_field(res, p_key)
        ratio = s / pv if s and pv else None
        speed = pv / s if s and pv else None
        rs, rp = result_field(res, s_key, "peak_rss_kb"), result_field(res, p_key, "peak_rss_kb")
        rss_ratio = rs / rp if rs and rp else None
        cs, cp = result_field(res, s_key, "cpu_best"), result_field(res, p_key, "cpu_best")
        verdicts = []
        if speed_target is not None and speed is not None:
            verdicts.append(f"{'MET' if speed >= speed_target else 'NOT MET'} (speedup >= {speed_target:g})")
        if rss_target is not None and rss_ratio is not None:
            verdicts.append(f"{'MET' if rss_ratio <= rss_target else 'NOT MET'} (RSS <= {rss_target:g}x)")
        for k in (s_key, p_key):
            r = res.get(k) or {}
            if "error" in r:
                verdicts = [f"ERROR ({k} failed)"]
                break
            if r and not r.get("check_ok", True):
                verdicts.insert(0, f"FAIL: wrong result ({k})")
        rows.append({
            "op": op,
            "peer": peer,
            "strata": fmt_s(s) if s is not None else "ERROR",
            "peer_time": fmt_s(pv) if pv is not None else "ERROR",
            "ratio": fmt_ratio(ratio),
            "speedup": fmt_ratio(speed),
            "rss_strata": fmt_mib(rs),
            "rss_peer": fmt_mib(rp),
            "rss_ratio": fmt_ratio(rss_ratio),
            "cpu": f"{fmt_s(cs)} / {fmt_s(cp)}" if cs is not None and cp is not None else "-",
            "target": "; ".join(verdicts) if verdicts else "-",
            "raw": {"strata_s": s, "peer_s": pv, "ratio": ratio, "speedup": speed, "rss_strata_kb": rs,
                    "rss_peer_kb": rp, "rss_ratio": rss_ratio, "cpu_strata_s": cs, "cpu_peer_s": cp},
        })

    if "merge" in a.ops:
        add("merge (COW)", "delta-rs", "merge:strata", "merge:delta-rs", 3.0, 2.0)
    if "merge_dv" in a.ops:
        add("merge (strata DV)", "delta-rs (COW)", "merge_dv:strata", "merge:delta-rs", 5.0, 2.0)
    if "delete" in a.ops:
        add("delete 1%: DV vs COW", "strata COW", "delete:strata-dv", "delete:strata-cow", 10.0)
        add("delete 1% (strata DV)", "delta-rs", "delete:strata-dv", "delete:delta-rs")
        add("delete 1% (strata COW)", "delta-rs", "delete:strata-cow", "delete:delta-rs")
    if "optimize" in a.ops:
        add("optimize (compact)", "delta-rs", "optimize:strata", "optimize:delta-rs", 1.5)
    if "optimize_z" in a.ops:
        add(f"optimize z-order ({a.z_cols})", "delta-rs", "optimize_z:strata", "optimize_z:delta-rs")

    notes = []
    exp = info.get("expected") or {}
    for key, what in (("target", "target table (copy-on-write)"), ("target_dv", "target table (deletion vectors)")):
        m = info.get(key)
        if m:
            notes.append(f"{what}: {m['rows']:,} rows in {m['files']} file(s) of {m['file_mib']} MiB, written by strata "
                         f"(target_file_size 128 MiB; files roll over at 1Mi-row row-group boundaries).")
    if exp and {"merge", "merge_dv"} & set(a.ops):
        notes.append(f"merge source: {exp['source_rows']:,} rows = {exp['source_updates']:,} updates of ids drawn "
                     f"uniformly over the target + {exp['source_inserts']:,} inserts of new ids, shuffled; "
                     f"expected {exp['merge_rows']:,} rows after.")
    if exp and "delete" in a.ops:
        notes.append(f"delete predicate `{exp['delete_predicate']}`: {exp['delete_rows_deleted']:,} rows of "
                     f"{exp['rows']:,}, in every file.")
    m = info.get("small")
    if m:
        notes.append(f"optimize table: {m['files']:,} files of {m['rows_per_file']:,} rows ({m['bytes'] / 2**20:.0f} MiB, "
                     f"version {m['version']}), built by strata appends in {m['build_seconds']:.0f} s; "
                     f"delta-rs gets target_size=128 MiB (its default is 100 MB).")
    pr = info.get("dv_probe")
    if pr and "error" not in pr:
        notes.append(
            f"delta-rs {'' if pr['adds_with_deletion_vector'] else 'does NOT write deletion vectors: '}its DELETE and "
            f"MERGE on a table with delta.enableDeletionVectors=true (reader features {pr['reader_features']}) committed "
            f"{pr['adds']} add action(s), {pr['adds_with_deletion_vector']} with a deletionVector, and removed "
            f"{pr['removes']} file(s) (copy-on-write rewrites). Its delete() docstring: \"...Once files are determined "
            f"they are rewritten without the records.\" So merge_dv compares strata with deletion vectors against the "
            f"same delta-rs copy-on-write run as merge.")
    notes.append("delta-rs runs with WriterProperties(compression=SNAPPY) (its DELETE/OPTIMIZE default is zstd); "
                 "strata writes snappy.")
    for k in ("merge:strata", "merge_dv:strata", "merge:delta-rs"):
        r = res.get(k) or {}
        mt = r.get("metrics")
        if mt:
            if k.endswith("delta-rs"):
                keys = ("execution_time_ms", "scan_time_ms", "rewrite_time_ms", "num_target_files_scanned",
                        "num_target_files_added", "num_target_files_removed", "num_target_rows_copied")
            else:
                keys = ("execution_time_ms", "join", "num_target_files_added", "num_target_files_removed",
                        "num_target_files_skipped", "num_deletion_vectors_added", "num_target_rows_copied")
            notes.append(f"{k} metrics (last run): " + ", ".join(f"{x}={mt.get(x)}" for x in keys if x in mt)
                         + f"; times {[round(t, 2) for t in r['times']]} s")
    for k in ("delete:strata-dv", "delete:strata-cow", "delete:delta-rs", "optimize:strata", "optimize:delta-rs",
              "optimize_z:strata", "optimize_z:delta-rs"):
        r = res.get(k) or {}
        if "metrics" in r:
            files_after = r["checks"][-1]["files"] if r.get("checks") else "?"
            notes.append(f"{k}: files after {files_after}; times {[round(t, 2) for t in r['times']]} s; metrics "
                         f"{json.dumps(r['metrics'], default=str)[:300]}")
    all_ok = True
    for k, r in res.items():
        if "error" in r:
            all_ok = False
            notes.append(f"{k}: ERROR {r['error'].splitlines()[0][:200]}")
        for i, c in enumerate(r.get("checks") or []):
            if not c["ok"]:
                all_ok = False
                notes.append(f"FAIL {k} run {i}: " + "; ".join(c["problems"]))
    if all_ok:
        n = sum(len(r.get("checks") or []) for r in res.values())
        notes.append(f"correctness: all {n} runs (warm-ups included) gave the expected row count and sum(qty).")
    return {"rows": rows, "notes": notes, "all_checks_ok": all_ok}


HEADERS = [
    "operation",
    "peer",
    "strata",
    "peer time",
    "strata/peer time (lower=better)",
    "speedup peer/strata (higher=better)",
    "peak RSS strata",
    "peak RSS peer",
    "RSS strata/peer",
    "CPU s strata / peer",
    "target",
]


def _cells(r):
    return [r["op"], r["peer"], r["strata"], r["peer_time"], r["ratio"], r["speedup"], r["rss_strata"],
            r["rss_peer"], r["rss_ratio"], r["cpu"], r["target"]]


def print_report(report) -> None:
    print_table(HEADERS, [_cells(r) for r in report["rows"]])
    print("\nratios: 'strata/peer time' < 1 means strata is faster; 'speedup' > 1 means strata is faster.")
    print("targets: merge COW speedup >= 3 and merge with DV >= 5 vs delta-rs COW, peak RSS <= 2x delta-rs;")
    print("         delete with DV >= 10x strata COW; optimize >= 1.5x delta-rs. Others are informational.")
    print("peak RSS: per operation and engine, each in a fresh subprocess (interpreter, libraries, mapped source,")
    print("          correctness checks included). CPU s: process CPU time (user+sys, all threads) of the")
    print("          operation, best run: less sensitive than wall time to other load on the machine.")
    for n in report["notes"]:
        print(" - " + n)


def report_markdown(report) -> str:
    return markdown_table(HEADERS, [_cells(r) for r in report["rows"]]) + "\n\n" + "\n".join(
        "- " + n for n in report["notes"]
    ) + "\n"


# =================================================================================================
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000, help="target table rows (the source is rows/10)")
    ap.add_argument("--quick", action="store_true", help="1,000,000-row target, 100,000-row source")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (best-of), after one warm-up run")
    ap.add_argument("--only", default=",".join(ALL_OPS), help="comma list of: " + ", ".join(ALL_OPS))
    ap.add_argument("--small-files", type=int, default=1000, help="files in the optimize table")
    ap.add_argument("--z-cols", default="qty,score", help="Z-order columns for optimize_z")
    ap.add_argument("--timeout", type=float, default=5400, help="seconds per worker subprocess")
    ap.add_argument("--force-fixtures", action="store_true", help="rebuild cached source and fixture tables")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.quick:
        a.rows = 1_000_000
    a.ops = [x.strip() for x in a.only.split(",") if x.strip()]
    bad = [x for x in a.ops if x not in ALL_OPS]
    if bad and not a.worker:
        ap.error(f"unknown operation(s) {bad}; choose from {', '.join(ALL_OPS)}")
    if a.worker:
        sys.path.insert(0, str(REPO_DIR / "python"))
        emit_result(WORKERS[a.worker](a))
        # deltalake 1.6.6 can abort during interpreter teardown ("terminate called without an
        # active exception"); the result is already printed, so leave without tearing down.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
