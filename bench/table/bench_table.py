#!/usr/bin/env python3
"""Table benchmark: strata vs delta-rs (deltalake) vs raw pyarrow on the same data.

    .venv/bin/python bench/table/bench_table.py --quick        # 1M rows, sanity run
    .venv/bin/python bench/table/bench_table.py                # 10M rows
    .venv/bin/python bench/table/bench_table.py --rows 5000000 --only write,scan

Every measured (operation, engine) pair runs in its own fresh subprocess, so the peak RSS
printed is that operation's alone (wait4 ru_maxrss of the child; it includes the interpreter,
the libraries and, for writes, the input data). Each worker runs its operation once untimed
(warms the page cache and lazy imports equally for every engine), then best-of-N.
Data and fixture tables are cached under bench/out/ (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
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
    percentile,
    print_machine_info,
    print_table,
    result_field,
    rmtree,
    rss_kb,
    run_worker,
    save_results,
    worker_env,
)

SCRIPT = Path(__file__).resolve()
SNAPSHOT_COMMITS = 10_000
SNAPSHOT_COMMITS_REDUCED = 2_000
SNAPSHOT_BUILD_BUDGET_S = 180.0
SELECTIVE_FILES = 40  # aim: >= 20 files in the selective-scan table
BATCH_ROWS = 1 << 20  # record batch size of the cached input data


# =================================================================================================
# Paths and data
# =================================================================================================
def paths(rows: int) -> dict[str, Path]:
    base = OUT_DIR / "table"
    return {
        "base": base,
        "data": base / f"data_{rows}.arrow",
        "scan": base / f"scan_{rows}",  # strata table, default options (full scan)
        "sel": base / f"sel_{rows}",  # strata table, many files (selective scan)
        "log": base / "log_table",  # strata table, many tiny commits (snapshot load)
        "scratch": base / "scratch",
    }


def generate_data(rows: int, dest: Path) -> None:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(20261124)
    cats = pa.array(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"])
    users = pa.array([f"user_{k:04d}_{(k * 2654435761) % 99991:05d}" for k in range(1000)])
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("qty", pa.int32()),
            ("price", pa.float64()),
            ("score", pa.float64()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("category", pa.string()),
            ("user", pa.string()),
            ("flag", pa.bool_()),
        ]
    )
    base_us = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
    tmp = dest.with_suffix(".tmp")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as w:
        for start in range(0, rows, BATCH_ROWS):
            n = min(BATCH_ROWS, rows - start)
            ids = np.arange(start, start + n, dtype=np.int64)
            cat = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 10, n, dtype=np.int32)), cats)
            usr = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 1000, n, dtype=np.int32)), users)
            batch = pa.record_batch(
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
            w.write_batch(batch)
    tmp.rename(dest)


def load_data(path: Path):
    """The cached input as a pyarrow.Table (memory-mapped, zero copy)."""
    import pyarrow as pa

    return pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()


def data_files(table_path: Path) -> list[str]:
    import strata

    return [str(table_path / f["path"]) for f in strata.Table(str(table_path)).files()]


def selective_range(rows: int) -> tuple[int, int]:
    """1% of rows on the sorted id key, deliberately not aligned to file boundaries."""
    width = max(1, rows // 100)
    lo = rows // 2 + rows // 137
    return lo, lo + width


# =================================================================================================
# Workers: each runs in a fresh subprocess and emits one JSON result
# =================================================================================================
def w_gen(a) -> dict:
    p = paths(a.rows)
    t0 = time.perf_counter()
    generate_data(a.rows, p["data"])
    return {"seconds": time.perf_counter() - t0, "bytes": p["data"].stat().st_size}


def w_prep_scan(a) -> dict:
    import strata

    p = paths(a.rows)
    rmtree(p["scan"])
    data = load_data(p["data"])
    strata.write_table(str(p["scan"]), data, mode="overwrite", compression="snappy")
    return {"files": len(strata.Table(str(p["scan"])).files()), "bytes": dir_size(p["scan"])}


def w_prep_sel(a) -> dict:
    """A strata table with >= 20 files. First tries target_file_size; strata only rolls a file
    after a whole row group (1Mi rows) is flushed, so for small N that may give too few files;
    then the table is written as SELECTIVE_FILES sorted appends (one file each)."""
    import strata

    p = paths(a.rows)
    data = load_data(p["data"])
    scan_bytes = dir_size(p["scan"] / "") if p["scan"].exists() else data.nbytes // 3
    target = max(1, scan_bytes // SELECTIVE_FILES)
    rmtree(p["sel"])
    strata.write_table(str(p["sel"]), data, mode="overwrite", target_file_size=target)
    files = len(strata.Table(str(p["sel"])).files())
    method = f"one write, target_file_size={target} B"
    note = ""
    if files < 20:
        note = (
            f"target_file_size={target} B gave only {files} file(s) (files roll over only at "
            f"row-group boundaries, 1Mi rows); rewrote as {SELECTIVE_FILES} sorted appends"
        )
        rmtree(p["sel"])
        step = -(-a.rows // SELECTIVE_FILES)
        for start in range(0, a.rows, step):
            strata.write_table(str(p["sel"]), data.slice(start, step), mode="append")
        files = len(strata.Table(str(p["sel"])).files())
        method = f"{SELECTIVE_FILES} appends of {step} sorted rows"
    # Ground truth: files whose id range (from the Parquet footers) overlaps the filter.
    import pyarrow.parquet as pq

    lo, hi = selective_range(a.rows)
    matching = 0
    for f in data_files(p["sel"]):
        md = pq.ParquetFile(f).metadata
        col = md.schema.to_arrow_schema().get_field_index("id")
        mins = [md.row_group(i).column(col).statistics.min for i in range(md.num_row_groups)]
        maxs = [md.row_group(i).column(col).statistics.max for i in range(md.num_row_groups)]
        if min(mins) < hi and max(maxs) >= lo:
            matching += 1
    return {"files": files, "method": method, "note": note, "matching_files": matching}


def w_prep_log(a) -> dict:
    """a.log_commits tiny appends (10 rows each) with strata, default checkpoint interval 100.
    If that build takes longer than SNAPSHOT_BUILD_BUDGET_S, it is abandoned and the table is
    rebuilt with SNAPSHOT_COMMITS_REDUCED commits (the attempt's numbers are kept and reported)."""
    import pyarrow as pa
    import strata

    p = paths(a.rows)
    data = load_data(p["data"])
    tiny = pa.Table.from_batches([data.slice(0, 10).combine_chunks().to_batches()[0]])

    def build(target: int, budget: float | None) -> dict:
        rmtree(p["log"])
        t0 = time.perf_counter()
        lat = []
        while len(lat) < target:
            t1 = time.perf_counter()
            strata.write_table(str(p["log"]), tiny, mode="append")
            lat.append(time.perf_counter() - t1)
            if budget is not None and time.perf_counter() - t0 > budget and len(lat) < target:
                break
        med = lambda xs: 1e3 * sorted(xs)[len(xs) // 2]  # noqa: E731
        return {
            "commits": len(lat),
            "seconds": time.perf_counter() - t0,
            "commit_ms_first100_median": med(lat[:100]),
            "commit_ms_last100_median": med(lat[-100:]),
        }

    attempt = build(a.log_commits, SNAPSHOT_BUILD_BUDGET_S)
    meta = {"requested": a.log_commits, "reduced": False, "attempt": attempt}
    final = attempt
    if attempt["commits"] < a.log_commits:
        meta["reduced"] = True
        final = build(min(SNAPSHOT_COMMITS_REDUCED, a.log_commits), None)
    ckpts = sorted(x.name for x in (p["log"] / "_delta_log").glob("*.checkpoint*.parquet"))
    meta.update(
        commits=final["commits"],
        build_seconds=final["seconds"],
        commit_ms_first100_median=final["commit_ms_first100_median"],
        commit_ms_last100_median=final["commit_ms_last100_median"],
        checkpoints=len(ckpts),
        last_checkpoint=ckpts[-1] if ckpts else None,
        version=strata.Table(str(p["log"])).version,
    )
    (p["base"] / "log_table.json").write_text(json.dumps(meta))
    return meta


def w_write(a) -> dict:
    import pyarrow.parquet as pq

    p = paths(a.rows)
    data = load_data(p["data"])
    base_rss, _ = rss_kb()
    target = p["scratch"] / f"write_{a.engine}"
    target.mkdir(parents=True, exist_ok=True)
    rmtree(target)

    if a.engine == "strata":
        import strata

        def fn():
            return strata.write_table(str(target), data, mode="overwrite", compression="snappy")

    elif a.engine == "delta-rs":
        from deltalake import WriterProperties, write_deltalake

        props = WriterProperties(compression="SNAPPY")

        def fn():
            return write_deltalake(str(target), data, mode="overwrite", writer_properties=props)

    elif a.engine == "pyarrow":
        target.mkdir(parents=True, exist_ok=True)

        def fn():
            return pq.write_table(data, str(target / "data.parquet"), compression="snappy")

    else:
        raise ValueError(a.engine)

    def setup():
        rmtree(target)
        if a.engine == "pyarrow":
            target.mkdir(parents=True, exist_ok=True)

    r = bench(fn, repeat=a.repeat, warmup=1, setup=setup)
    files = [f for f in target.rglob("*.parquet") if "_delta_log" not in f.parts]
    out = {
        "best": r["best"],
        "median": r["median"],
        "times": r["times"],
        "rows": data.num_rows,
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
        "rss_base_kb": base_rss,
    }
    rmtree(target)
    return out


def w_scan(a) -> dict:
    """Full scan to Arrow of the same strata-written table."""
    p = paths(a.rows)
    tpath = str(p["scan"])
    if a.engine == "strata":
        import strata

        def fn():
            return strata.Table(tpath).to_arrow().num_rows

    elif a.engine == "delta-rs":
        from deltalake import DeltaTable

        def fn():
            return DeltaTable(tpath).to_pyarrow_table().num_rows

    elif a.engine == "pyarrow":
        import pyarrow.dataset as ds

        files = data_files(p["scan"])

        def fn():
            return ds.dataset(files, format="parquet").to_table().num_rows

    else:
        raise ValueError(a.engine)
    r = bench(fn, repeat=a.repeat, warmup=1)
    if r["value"] != a.rows:
        raise AssertionError(f"{a.engine} full scan returned {r['value']} rows, expected {a.rows}")
    return {"best": r["best"], "median": r["median"], "times": r["times"], "rows": r["value"]}


def w_sel(a) -> dict:
    """1% of rows on the sorted id key, table with >= 20 files."""
    import pyarrow.compute as pc

    p = paths(a.rows)
    tpath = str(p["sel"])
    lo, hi = selective_range(a.rows)
    sql = f"id >= {lo} AND id < {hi}"
    expr = (pc.field("id") >= lo) & (pc.field("id") < hi)
    out: dict = {"filter": sql}
    if a.engine == "strata":
        import strata

        plan = strata.Table(tpath).scan_plan(sql)
        out.update(files_total=plan["files_total"], files_read=plan["files_to_read"], files_how="scan_plan")

        def fn():
            return strata.Table(tpath).to_arrow(filter=sql).num_rows

    elif a.engine == "delta-rs":
        from deltalake import DeltaTable

        dt = DeltaTable(tpath)
        dset = dt.to_pyarrow_dataset()
        total = len(dset.files)
        # Fragments carry min/max stats as guarantees: those left after the filter are the
        # files that can be opened. (A cross-check; timing below is what matters.)
        kept = sum(1 for _ in dset.get_fragments(filter=expr))
        out.update(files_total=total, files_read=kept, files_how="fragments after filter (stats guarantees)")

        def fn():
            return DeltaTable(tpath).to_pyarrow_dataset().to_table(filter=expr).num_rows

    elif a.engine == "pyarrow":
        import pyarrow.dataset as ds

        files = data_files(p["sel"])
        out.update(files_total=len(files), files_read=len(files), files_how="all footers (row-group stats)")

        def fn():
            return ds.dataset(files, format="parquet").to_table(filter=expr).num_rows

    else:
        raise ValueError(a.engine)
    r = bench(fn, repeat=a.repeat, warmup=1)
    if r["value"] != hi - lo:
        raise AssertionError(f"{a.engine} selective scan returned {r['value']} rows, expected {hi - lo}")
    out.update(best=r["best"], median=r["median"], times=r["times"], rows=r["value"])
    return out


def w_snapshot(a) -> dict:
    p = paths(a.rows)
    tpath = str(p["log"])
    if a.engine == "strata":
        import strata

        def fn():
            t = strata.Table(tpath)
            return t.version

        nfiles = len(strata.Table(tpath).files())
    elif a.engine == "delta-rs":
        from deltalake import DeltaTable

        def fn():
            return DeltaTable(tpath).version()

        nfiles = len(DeltaTable(tpath).file_uris())
    else:
        raise ValueError(a.engine)
    r = bench(fn, repeat=a.snapshot_repeat, warmup=1)
    return {"best": r["best"], "median": r["median"], "times": r["times"], "version": r["value"], "files": nfiles}


def w_append(a) -> dict:
    import pyarrow as pa

    p = paths(a.rows)
    data = load_data(p["data"])
    target = p["scratch"] / f"append_{a.engine}"
    rmtree(target)
    chunk = lambda i: pa.Table.from_batches([data.slice(10 * i, 10).combine_chunks().to_batches()[0]])  # noqa: E731
    batches = [chunk(i) for i in range(a.appends + 1)]
    if a.engine == "strata":
        import strata

        def append(t):
            strata.write_table(str(target), t, mode="append")

    elif a.engine == "delta-rs":
        from deltalake import write_deltalake

        def append(t):
            write_deltalake(str(target), t, mode="append")

    else:
        raise ValueError(a.engine)
    append(batches[0])  # creates the table (untimed)
    lat = []
    for i in range(1, a.appends + 1):
        t0 = time.perf_counter()
        append(batches[i])
        lat.append(time.perf_counter() - t0)
    rmtree(target)
    lat_sorted = sorted(lat)
    return {
        "median": lat_sorted[len(lat) // 2],
        "p95": percentile(lat, 95),
        "best": lat_sorted[0],
        "max": lat_sorted[-1],
        "n": len(lat),
    }


WORKERS = {
    "gen": w_gen,
    "prep_scan": w_prep_scan,
    "prep_sel": w_prep_sel,
    "prep_log": w_prep_log,
    "write": w_write,
    "scan": w_scan,
    "sel": w_sel,
    "snapshot": w_snapshot,
    "append": w_append,
}


# =================================================================================================
# Driver
# =================================================================================================
def call(a, op: str, engine: str = "", timeout: float = 3600) -> dict:
    argv = [
        sys.executable,
        str(SCRIPT),
        "--worker",
        op,
        "--engine",
        engine or "-",
        "--rows",
        str(a.rows),
        "--repeat",
        str(a.repeat),
        "--snapshot-repeat",
        str(a.snapshot_repeat),
        "--appends",
        str(a.appends),
        "--log-commits",
        str(a.log_commits),
    ]
    label = f"{op}:{engine}" if engine else op
    print(f"  .. {label:<20}", end="", flush=True)
    r = run_worker(argv, env=worker_env(), timeout=timeout)
    print(f" done in {r['worker_wall_s']:.1f}s (peak RSS {fmt_mib(r.get('peak_rss_kb'))})", flush=True)
    return r


def versions() -> dict[str, str]:
    import deltalake
    import numpy
    import pyarrow

    sys.path.insert(0, str(REPO_DIR / "python"))
    import strata

    return {
        "strata": strata.__version__,
        "deltalake": deltalake.__version__,
        "pyarrow": pyarrow.__version__,
        "numpy": numpy.__version__,
    }


def prepare(a) -> dict:
    p = paths(a.rows)
    p["base"].mkdir(parents=True, exist_ok=True)
    info: dict = {}
    print("fixtures (cached under bench/out/table/):")
    if not p["data"].exists():
        call(a, "gen")
    if a.force_fixtures or not (p["scan"] / "_delta_log").exists():
        call(a, "prep_scan")
    if any(op in a.ops for op in ("sel",)):
        meta = p["base"] / f"sel_{a.rows}.json"
        if a.force_fixtures or not meta.exists() or not (p["sel"] / "_delta_log").exists():
            r = call(a, "prep_sel")
            meta.write_text(json.dumps(r))
        info["sel"] = json.loads(meta.read_text())
    if "snapshot" in a.ops:
        meta = p["base"] / "log_table.json"
        ok = meta.exists() and (p["log"] / "_delta_log").exists()
        if ok:
            m = json.loads(meta.read_text())
            ok = m.get("requested") == a.log_commits
        if a.force_fixtures or not ok:
            call(a, "prep_log", timeout=7200)
        info["log"] = json.loads(meta.read_text())
    return info


def run(a) -> int:
    mi = machine_info()
    vers = versions()
    print("=" * 100)
    print(f"strata table benchmark  rows={a.rows:,}  repeat=best-of-{a.repeat} (after 1 warm-up run)")
    print_machine_info(mi, {"versions": "  ".join(f"{k} {v}" for k, v in vers.items())})
    print("=" * 100)
    t_start = time.perf_counter()
    info = prepare(a)
    res: dict[str, dict] = {}
    print("measuring (one fresh subprocess per operation and engine):")
    engines = {
        "write": ["strata", "delta-rs", "pyarrow"],
        "scan": ["strata", "delta-rs", "pyarrow"],
        "sel": ["strata", "delta-rs", "pyarrow"],
        "snapshot": ["strata", "delta-rs"],
        "append": ["strata", "delta-rs"],
    }
    for op in ("write", "scan", "sel", "snapshot", "append"):
        if op not in a.ops:
            continue
        for eng in engines[op]:
            try:
                res[f"{op}:{eng}"] = call(a, op, eng)
            except Exception as e:  # keep going: report the failure in the table
                print(f" FAILED: {str(e).splitlines()[0]}")
                res[f"{op}:{eng}"] = {"error": str(e)}
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
    save_results("table", a.rows, out, report_markdown(report))
    return 0


# --- reporting ----------------------------------------------------------------------------------
def build_report(a, res, info) -> dict:
    """Rows: operation, strata, peer, peer value, strata/peer time ratio (lower is better),
    speedup (peer time / strata time, higher is better), peak RSS of each, target check."""
    rows = []
    n = a.rows

    def add(op, peer, s_key, p_key, field="best", extra_s="", extra_p="", target=None, per=None):
        s, pv = result_field(res, s_key, field), result_field(res, p_key, field)
        ratio = s / pv if s and pv else None
        speed = pv / s if s and pv else None
        ok = ""
        if target is not None and speed is not None:
            ok = "MET" if target(speed) else "NOT MET"
        err = ""
        for k in (s_key, p_key):
            if "error" in (res.get(k) or {}):
                err = f"{k} failed"
                ok = "ERROR"
        rows.append(
            {
                "op": op,
                "peer": peer,
                "strata": (fmt_s(s) + extra_s) if s is not None else "ERROR",
                "peer_time": (fmt_s(pv) + extra_p) if pv is not None else "ERROR",
                "ratio": fmt_ratio(ratio),
                "speedup": fmt_ratio(speed),
                "rss_strata": fmt_mib(result_field(res, s_key, "peak_rss_kb")),
                "rss_peer": fmt_mib(result_field(res, p_key, "peak_rss_kb")),
                "target": ok,
                "error": err,
                "raw": {"strata_s": s, "peer_s": pv, "ratio": ratio, "speedup": speed},
            }
        )

    def rps(key):
        b = result_field(res, key)
        return f" ({n / b / 1e6:.2f} M rows/s)" if b else ""

    if "write" in a.ops:
        add("write", "delta-rs", "write:strata", "write:delta-rs", extra_s=rps("write:strata"),
            extra_p=rps("write:delta-rs"), target=lambda sp: sp >= 1.3)
        add("write", "pyarrow.parquet", "write:strata", "write:pyarrow", extra_s=rps("write:strata"),
            extra_p=rps("write:pyarrow"), target=lambda sp: sp >= 0.9)
    if "scan" in a.ops:
        add("full scan", "delta-rs", "scan:strata", "scan:delta-rs", target=lambda sp: sp >= 1.2)
        add("full scan", "pyarrow.dataset", "scan:strata", "scan:pyarrow", target=lambda sp: sp >= 0.9)
    if "sel" in a.ops:
        def files(key):
            r = res.get(key) or {}
            return f" [{r['files_read']}/{r['files_total']} files]" if "files_read" in r else ""

        add("selective scan 1%", "delta-rs", "sel:strata", "sel:delta-rs", extra_s=files("sel:strata"),
            extra_p=files("sel:delta-rs"))
        add("selective scan 1%", "pyarrow.dataset", "sel:strata", "sel:pyarrow", extra_s=files("sel:strata"),
            extra_p=files("sel:pyarrow"))
        need = (info.get("sel") or {}).get("matching_files")
        got = (res.get("sel:strata") or {}).get("files_read")
        if need is not None and got is not None:
            verdict = "MET" if got == need else "NOT MET"
            rows[-2]["target"] = f"{verdict}: strata opens {got}, {need} hold matches"
    if "snapshot" in a.ops:
        add("snapshot load", "delta-rs", "snapshot:strata", "snapshot:delta-rs", target=lambda sp: sp >= 2.0)
    if "append" in a.ops:
        add("append 10 rows (median)", "delta-rs", "append:strata", "append:delta-rs", field="median")
        add("append 10 rows (p95)", "delta-rs", "append:strata", "append:delta-rs", field="p95")
        med = result_field(res, "append:strata", "median")
        if med is not None:
            rows[-2]["target"] = "MET (<= 5 ms)" if med <= 0.005 else "NOT MET (> 5 ms)"
    notes = []
    sel = info.get("sel")
    if sel:
        notes.append(f"selective-scan table: {sel.get('files')} files ({sel.get('method')}).")
        if sel.get("note"):
            notes.append("selective-scan table: " + sel["note"] + ".")
    lg = info.get("log")
    if lg:
        msg = (
            f"snapshot table: {lg['commits']:,} commits (requested {lg['requested']:,}), "
            f"{lg['checkpoints']} checkpoints, built by strata in {lg['build_seconds']:.0f} s "
            f"(commit median {lg['commit_ms_first100_median']:.1f} ms first 100, "
            f"{lg['commit_ms_last100_median']:.1f} ms last 100)"
        )
        if lg.get("reduced"):
            at = lg["attempt"]
            msg += (
                f"; REDUCED from {lg['requested']:,}: the {lg['requested']:,}-commit build exceeded "
                f"{SNAPSHOT_BUILD_BUDGET_S:.0f} s (reached {at['commits']:,} commits in {at['seconds']:.0f} s; "
                f"strata commit median grew from {at['commit_ms_first100_median']:.1f} ms (first 100) to "
                f"{at['commit_ms_last100_median']:.1f} ms (last 100))"
            )
        notes.append(msg + ".")
    for k in ("snapshot:strata", "snapshot:delta-rs"):
        r = res.get(k) or {}
        if "version" in r:
            notes.append(f"{k}: version {r['version']}, {r['files']:,} live files, best of {len(r['times'])}.")
    for k in ("sel:strata", "sel:delta-rs", "sel:pyarrow"):
        r = res.get(k) or {}
        if "files_how" in r:
            notes.append(f"{k}: {r['files_read']}/{r['files_total']} files via {r['files_how']}.")
    for k in ("append:strata", "append:delta-rs"):
        r = res.get(k) or {}
        if "median" in r:
            notes.append(
                f"{k}: {r['n']} appends, median {r['median'] * 1e3:.1f} ms, p95 {r['p95'] * 1e3:.1f} ms, "
                f"max {r['max'] * 1e3:.1f} ms."
            )
    for k in ("write:strata", "write:delta-rs", "write:pyarrow"):
        r = res.get(k) or {}
        if "files" in r and "error" not in r:
            notes.append(
                f"{k}: {r['files']} file(s), {r['bytes'] / 2**20:.0f} MiB on disk; "
                f"RSS with input loaded {fmt_mib(r.get('rss_base_kb'))}."
            )
    for k, r in res.items():
        if "error" in r:
            notes.append(f"{k}: ERROR {r['error'].splitlines()[0][:200]}")
    return {"rows": rows, "notes": notes}


HEADERS = [
    "operation",
    "peer",
    "strata",
    "peer time",
    "strata/peer time (lower=better)",
    "speedup peer/strata (higher=better)",
    "peak RSS strata",
    "peak RSS peer",
    "target",
]


def _cells(r):
    return [r["op"], r["peer"], r["strata"], r["peer_time"], r["ratio"], r["speedup"], r["rss_strata"],
            r["rss_peer"], r["target"]]


def print_report(report) -> None:
    print_table(HEADERS, [_cells(r) for r in report["rows"]])
    print("\nratios: 'strata/peer time' < 1 means strata is faster; 'speedup' > 1 means strata is faster.")
    print("targets: write speedup >= 1.3 vs delta-rs and >= 0.9 vs pyarrow; full scan >= 1.2 vs delta-rs and")
    print("         >= 0.9 vs pyarrow.dataset; selective scan opens only matching files; snapshot load >= 2.0;")
    print("         small append median <= 5 ms.")
    print("peak RSS: per operation, each in a fresh subprocess (includes interpreter + libraries; writes include input).")
    for n in report["notes"]:
        print(" - " + n)


def report_markdown(report) -> str:
    return markdown_table(HEADERS, [_cells(r) for r in report["rows"]]) + "\n\n" + "\n".join(
        "- " + n for n in report["notes"]
    ) + "\n"


# =================================================================================================
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--quick", action="store_true", help="1,000,000 rows (fast sanity run)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs for big operations (best-of)")
    ap.add_argument("--snapshot-repeat", type=int, default=7)
    ap.add_argument("--appends", type=int, default=200)
    ap.add_argument("--log-commits", type=int, default=SNAPSHOT_COMMITS)
    ap.add_argument("--only", default="write,scan,sel,snapshot,append",
                    help="comma list of: write, scan, sel, snapshot, append")
    ap.add_argument("--force-fixtures", action="store_true", help="rebuild cached fixture tables")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.quick:
        a.rows = 1_000_000
    a.ops = [x.strip() for x in a.only.split(",") if x.strip()]
    if a.worker:
        sys.path.insert(0, str(REPO_DIR / "python"))
        emit_result(WORKERS[a.worker](a))
        # deltalake 1.6.6 can abort during interpreter teardown after to_pyarrow_table()
        # ("terminate called without an active exception", also outside strata); the result is
        # already printed, so leave without tearing down.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
