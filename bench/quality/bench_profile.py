#!/usr/bin/env python3
"""Profile and drift benchmark: strata vs numpy/scipy (PSI, KS) and DuckDB SUMMARIZE (profile).

    .venv/bin/python bench/quality/bench_profile.py --quick     # 1M rows
    .venv/bin/python bench/quality/bench_profile.py             # 10M rows (the targets' size)
    .venv/bin/python bench/quality/bench_profile.py --only psi,profile

Operations (--only):
  psi       PSI of 10 float64 columns (reference and current data of --rows rows each, 10 bins):
            strata.quality.psi() per column vs numpy (np.quantile edges, np.searchsorted +
            np.bincount counts, the same formula and epsilon). Target: strata <= 200 ms.
  psi_drift the same through strata.quality.drift(..., metrics=["psi"]) (one call, informational).
  ks        two-sample Kolmogorov-Smirnov of --ks-cols columns: strata.quality.ks() vs
            scipy.stats.ks_2samp(method="asymp") (informational).
  profile   profile of a --rows x 10-column in-memory Arrow table (int64, int32, float64 x2,
            timestamp, string (10 values), string (1000 values), bool, float32 with NaN, int64
            with nulls): strata.quality.profile() vs DuckDB SUMMARIZE of the same Arrow table.
            Target: strata <= 1 s.
  profile_table  strata profile of the same data written as a strata table (Parquet, snappy),
            full scan (informational), and the incremental update after a 1% append.

Every measured (operation, engine) runs in a fresh subprocess, so its peak RSS (wait4 ru_maxrss)
is that operation's alone (interpreter, libraries, memory-mapped inputs included). Inputs are
generated with numpy, cached as Arrow IPC files under bench/out/quality/profile/ and memory-mapped.
Each worker runs once untimed (page cache, lazy imports), then best-of-N; numpy/scipy get their
inputs as contiguous numpy arrays prepared untimed. Results are checked: PSI and KS values of
strata and the peer must agree (rel 1e-9; KS p-values to 0.01), profile counts/min/max/mean must
equal pyarrow.compute's.
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
    rmtree,
    rss_kb,
    run_worker,
    save_results,
    worker_env,
)

SCRIPT = Path(__file__).resolve()
ALL_OPS = ("psi", "psi_drift", "ks", "profile", "profile_table")
NUM_COLS = 10
BINS = 10
EPSILON = 1e-4
BATCH_ROWS = 1 << 20
SEED = 20261201


# =================================================================================================
# Data
# =================================================================================================
def paths(rows: int) -> dict[str, Path]:
    base = OUT_DIR / "quality" / "profile"
    return {
        "base": base,
        "ref": base / f"drift_ref_{rows}.arrow",
        "cur": base / f"drift_cur_{rows}.arrow",
        "mixed": base / f"mixed_{rows}.arrow",
        "table": base / f"table_{rows}",
        "scratch": base / "scratch",
    }


def load(path: Path):
    import pyarrow as pa

    return pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()


def generate_drift(rows: int, ref_path: Path, cur_path: Path) -> None:
    """10 float64 columns: reference ~ various distributions, current shifted/scaled a little
    more for each column (column k drifts by k/20 standard deviations)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(SEED)
    names = [f"x{k}" for k in range(NUM_COLS)]
    schema = pa.schema([(n, pa.float64()) for n in names])
    ref_path.parent.mkdir(parents=True, exist_ok=True)
    for path, drifted in ((ref_path, False), (cur_path, True)):
        tmp = path.with_suffix(".tmp")
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as w:
            for start in range(0, rows, BATCH_ROWS):
                n = min(BATCH_ROWS, rows - start)
                cols = []
                for k in range(NUM_COLS):
                    shift = k / 20 if drifted else 0.0
                    if k % 3 == 0:
                        v = rng.standard_normal(n) + shift
                    elif k % 3 == 1:
                        v = rng.lognormal(0, 1, n) * (1 + shift)
                    else:
                        v = np.round(rng.random(n) * 1000 + 100 * shift, 2)  # many ties
                    cols.append(pa.array(v))
                w.write_batch(pa.record_batch(cols, schema=schema))
        tmp.rename(path)


def generate_mixed(rows: int, dest: Path) -> None:
    """The profile input: 10 columns of mixed types (see the module docstring)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(SEED + 1)
    cats = pa.array(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"])
    users = pa.array([f"user_{k:04d}_{(k * 2654435761) % 99991:05d}" for k in range(1000)])
    schema = pa.schema([
        ("id", pa.int64()), ("qty", pa.int32()), ("price", pa.float64()), ("score", pa.float64()),
        ("ts", pa.timestamp("us", tz="UTC")), ("category", pa.string()), ("user", pa.string()),
        ("flag", pa.bool_()), ("ratio", pa.float32()), ("code", pa.int64()),
    ])
    base_us = 1_767_225_600_000_000
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as w:
        for start in range(0, rows, BATCH_ROWS):
            n = min(BATCH_ROWS, rows - start)
            ids = np.arange(start, start + n, dtype=np.int64)
            ratio = rng.random(n).astype(np.float32)
            ratio[rng.random(n) < 0.02] = np.nan
            w.write_batch(pa.record_batch([
                pa.array(ids),
                pa.array(rng.integers(0, 1_000_000, n, dtype=np.int32)),
                pa.array(np.round(rng.random(n) * 1000.0, 2)),
                pa.array(rng.standard_normal(n)),
                pa.array(base_us + ids * 1000 + rng.integers(0, 1000, n), type=pa.timestamp("us", tz="UTC")),
                pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 10, n, dtype=np.int32)), cats).dictionary_decode(),
                pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 1000, n, dtype=np.int32)), users).dictionary_decode(),
                pa.array(rng.random(n) < 0.5),
                pa.array(ratio),
                pa.array(rng.integers(0, 50, n), mask=rng.random(n) < 0.05),
            ], schema=schema))
    tmp.rename(dest)


# =================================================================================================
# Workers
# =================================================================================================
def _cpu_bench(fn, repeat):
    cpu: list[float] = []

    def run():
        c0 = time.process_time()
        v = fn()
        cpu.append(time.process_time() - c0)
        return v

    r = bench(run, repeat=repeat, warmup=1)
    return {"best": r["best"], "median": r["median"], "times": r["times"], "cpu_best": min(cpu[1:]),
            "cpu_times": cpu[1:], "value": r["value"]}


def numpy_psi(r, c, bins=BINS, eps=EPSILON):
    import numpy as np

    edges = np.quantile(r, np.arange(1, bins) / bins)
    rc = np.bincount(np.searchsorted(edges, r, side="right"), minlength=bins)
    cc = np.bincount(np.searchsorted(edges, c, side="right"), minlength=bins)
    p = rc / rc.sum()
    q = cc / cc.sum()
    p = np.where(p == 0, eps, p)
    q = np.where(q == 0, eps, q)
    return float(np.sum((q - p) * np.log(q / p)))


def w_gen(a) -> dict:
    p = paths(a.rows)
    t0 = time.perf_counter()
    if a.engine == "drift":
        generate_drift(a.rows, p["ref"], p["cur"])
    elif a.engine == "mixed":
        generate_mixed(a.rows, p["mixed"])
    else:  # table: the mixed data as a strata table
        import strata

        rmtree(p["table"])
        strata.write_table(str(p["table"]), load(p["mixed"]), mode="overwrite")
    return {"seconds": time.perf_counter() - t0}


def w_psi(a) -> dict:
    p = paths(a.rows)
    ref, cur = load(p["ref"]), load(p["cur"])
    names = ref.column_names
    base_rss, _ = rss_kb()
    if a.engine == "strata":
        from strata import quality as qd  # psi, ks and drift are exported by the package

        def fn():
            return [qd.psi(ref[n], cur[n], bins=BINS) for n in names]

    elif a.engine == "strata-drift":
        from strata import quality as qd  # psi, ks and drift are exported by the package

        def fn():
            rep = qd.drift(ref, cur, metrics=["psi"], bins=BINS)
            return [rep[n].psi for n in names]

    elif a.engine == "numpy":
        rs = {n: ref[n].to_numpy() for n in names}  # contiguous copies, untimed
        cs = {n: cur[n].to_numpy() for n in names}

        def fn():
            return [numpy_psi(rs[n], cs[n]) for n in names]

    else:
        raise ValueError(a.engine)
    out = _cpu_bench(fn, a.repeat)
    out["psi"] = out.pop("value")
    out["rss_base_kb"] = base_rss
    return out


def w_ks(a) -> dict:
    p = paths(a.rows)
    ref, cur = load(p["ref"]), load(p["cur"])
    names = ref.column_names[: a.ks_cols]
    if a.engine == "strata":
        from strata import quality as qd  # psi, ks and drift are exported by the package

        def fn():
            return [list(qd.ks(ref[n], cur[n])[:2]) for n in names]

    elif a.engine == "scipy":
        from scipy import stats

        rs = {n: ref[n].to_numpy() for n in names}
        cs = {n: cur[n].to_numpy() for n in names}

        def fn():
            out = []
            for n in names:
                r = stats.ks_2samp(rs[n], cs[n], method="asymp")
                out.append([float(r.statistic), float(r.pvalue)])
            return out

    else:
        raise ValueError(a.engine)
    out = _cpu_bench(fn, a.repeat)
    out["ks"] = out.pop("value")
    return out


def _profile_check(tbl, prof) -> dict:
    """Exact fields of strata's profile against pyarrow.compute."""
    import pyarrow.compute as pc

    problems = []
    for name in tbl.column_names:
        col, c = tbl[name], prof[name]
        if c.count != len(col) or c.null_count != col.null_count:
            problems.append(f"{name}: count/nulls {c.count}/{c.null_count} != {len(col)}/{col.null_count}")
        if c.kind in ("integer", "float"):
            valid = col if c.kind == "integer" else pc.filter(col, pc.invert(pc.is_nan(col)))
            mm = pc.min_max(valid).as_py()
            if (c.min, c.max) != (mm["min"], mm["max"]):
                problems.append(f"{name}: min/max {(c.min, c.max)} != {(mm['min'], mm['max'])}")
            mean = pc.mean(valid).as_py()
            if abs(c.mean - mean) > 1e-9 * max(1.0, abs(mean)):
                problems.append(f"{name}: mean {c.mean} != {mean}")
    return {"ok": not problems, "problems": problems}


def w_profile(a) -> dict:
    p = paths(a.rows)
    tbl = load(p["mixed"])
    base_rss, _ = rss_kb()
    if a.engine == "strata":
        from strata.quality import profile

        out = _cpu_bench(lambda: profile(tbl), a.repeat)
        prof = out.pop("value")
        out["check"] = _profile_check(tbl, prof)
        out["distinct"] = {n: prof[n].distinct for n in tbl.column_names}
    elif a.engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.register("t", tbl)

        def fn():
            return con.sql("SUMMARIZE t").fetchall()

        out = _cpu_bench(fn, a.repeat)
        out["rows_out"] = len(out.pop("value"))
        out["threads"] = con.execute("SELECT current_setting('threads')").fetchone()[0]
    else:
        raise ValueError(a.engine)
    out["rss_base_kb"] = base_rss
    return out


def w_profile_table(a) -> dict:
    import shutil

    import strata
    from strata.quality import profile

    p = paths(a.rows)
    if a.engine == "full":
        out = _cpu_bench(lambda: profile(str(p["table"]), use_stored=False, store=False), a.repeat)
        out["rows"] = out.pop("value").num_rows
        return out
    # incremental: a copy of the table with a stored profile, then a 1% append, then profile()
    work = p["scratch"] / "incremental"
    extra = load(p["mixed"]).slice(0, max(1, a.rows // 100))
    times, cpus, sources = [], [], []
    for i in range(a.repeat + 1):
        rmtree(work)
        shutil.copytree(p["table"], work)
        profile(str(work))  # stores version 0 (untimed)
        strata.write_table(str(work), extra)
        c0, t0 = time.process_time(), time.perf_counter()
        prof = profile(str(work))
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        sources.append(prof.source)
        if i > 0:
            times.append(dt)
            cpus.append(dc)
    rmtree(work)
    return {"best": min(times), "times": times, "cpu_best": min(cpus), "sources": sources,
            "appended_rows": extra.num_rows}


WORKERS = {"gen": w_gen, "psi": w_psi, "ks": w_ks, "profile": w_profile, "profile_table": w_profile_table}


# =================================================================================================
# Driver
# =================================================================================================
def call(a, op: str, engine: str) -> dict:
    argv = [sys.executable, str(SCRIPT), "--worker", op, "--engine", engine, "--rows", str(a.rows),
            "--repeat", str(a.repeat), "--ks-cols", str(a.ks_cols)]
    label = f"{op}:{engine}"
    print(f"  .. {label:<24}", end="", flush=True)
    r = run_worker(argv, env=worker_env(), timeout=a.timeout)
    print(f" done in {r['worker_wall_s']:.1f}s (peak RSS {fmt_mib(r.get('peak_rss_kb'))})", flush=True)
    return r


def versions() -> dict[str, str]:
    import duckdb
    import numpy
    import pyarrow
    import scipy

    sys.path.insert(0, str(REPO_DIR / "python"))
    import strata

    return {"strata": strata.__version__, "numpy": numpy.__version__, "scipy": scipy.__version__,
            "duckdb": duckdb.__version__, "pyarrow": pyarrow.__version__}


def run(a) -> int:
    mi = machine_info()
    vers = versions()
    print("=" * 100)
    print(f"strata profile/drift benchmark  rows={a.rows:,}  repeat=best-of-{a.repeat} (after 1 warm-up run)")
    print_machine_info(mi, {"versions": "  ".join(f"{k} {v}" for k, v in vers.items())})
    print("=" * 100)
    t_start = time.perf_counter()
    p = paths(a.rows)
    print("fixtures (cached under bench/out/quality/profile/):")
    if {"psi", "psi_drift", "ks"} & set(a.ops) and (a.force_fixtures or not p["cur"].exists()):
        call(a, "gen", "drift")
    if {"profile", "profile_table"} & set(a.ops) and (a.force_fixtures or not p["mixed"].exists()):
        call(a, "gen", "mixed")
    if "profile_table" in a.ops and (a.force_fixtures or not (p["table"] / "_delta_log").exists()):
        call(a, "gen", "table")
    plan = {
        "psi": [("psi", "strata"), ("psi", "numpy")],
        "psi_drift": [("psi", "strata-drift")],
        "ks": [("ks", "strata"), ("ks", "scipy")],
        "profile": [("profile", "strata"), ("profile", "duckdb")],
        "profile_table": [("profile_table", "full"), ("profile_table", "incremental")],
    }
    res: dict[str, dict] = {}
    print("measuring (one fresh subprocess per operation and engine):")
    for op in ALL_OPS:
        if op not in a.ops:
            continue
        for wop, eng in plan[op]:
            key = f"{wop}:{eng}"
            if key in res:
                continue
            try:
                res[key] = call(a, wop, eng)
            except Exception as e:  # keep going: report the failure
                print(f" FAILED: {str(e).splitlines()[0]}")
                res[key] = {"error": str(e)}
                sys.stderr.write(str(e)[-4000:] + "\n")
    report = build_report(a, res)
    print()
    print_report(report)
    total = time.perf_counter() - t_start
    print(f"\nbenchmark wall time: {total:.0f} s   load average at end: {tuple(round(x, 2) for x in os.getloadavg())}")
    save_results("quality/profile", a.rows, {"machine": mi, "versions": vers, "rows": a.rows, "repeat": a.repeat,
                                             "results": res, "report": report, "wall_s": total},
                 report_markdown(report))
    return 0 if report["all_checks_ok"] else 1


def build_report(a, res) -> dict:
    rows, notes = [], []
    all_ok = True

    def add(op, peer, s_key, p_key, target_s=None):
        s, pv = result_field(res, s_key), result_field(res, p_key) if p_key else None
        rs, rp = result_field(res, s_key, "peak_rss_kb"), result_field(res, p_key, "peak_rss_kb") if p_key else None
        cs, cp = result_field(res, s_key, "cpu_best"), result_field(res, p_key, "cpu_best") if p_key else None
        verdict = "-"
        if target_s is not None and s is not None:
            verdict = f"{'MET' if s <= target_s else 'NOT MET'} (<= {fmt_s(target_s)})"
        for k in (s_key, p_key):
            if k and "error" in (res.get(k) or {}):
                verdict = f"ERROR ({k})"
        rows.append({
            "op": op, "peer": peer or "-", "strata": fmt_s(s) if s is not None else "ERROR",
            "peer_time": fmt_s(pv) if pv is not None else "-",
            "ratio": fmt_ratio(s / pv if s and pv else None), "speedup": fmt_ratio(pv / s if s and pv else None),
            "rss_strata": fmt_mib(rs), "rss_peer": fmt_mib(rp),
            "cpu": f"{fmt_s(cs)} / {fmt_s(cp)}" if cs is not None and cp is not None else fmt_s(cs),
            "target": verdict,
        })

    if "psi" in a.ops:
        add(f"psi: {NUM_COLS} cols x {a.rows:,} rows (ref + cur)", "numpy", "psi:strata", "psi:numpy", 0.2)
        s, n = res.get("psi:strata", {}).get("psi"), res.get("psi:numpy", {}).get("psi")
        if s and n:
            bad = [i for i, (x, y) in enumerate(zip(s, n)) if abs(x - y) > 1e-9 * max(1.0, abs(y))]
            if bad:
                all_ok = False
                notes.append(f"FAIL psi: strata and numpy differ on columns {bad}: {s} vs {n}")
            else:
                notes.append(f"psi values: strata == numpy (rel 1e-9) on all {len(s)} columns: "
                             f"{[round(x, 5) for x in s]}")
    if "psi_drift" in a.ops:
        add("psi via drift(metrics=['psi'])", None, "psi:strata-drift", None, 0.2)
    if "ks" in a.ops:
        add(f"ks: {a.ks_cols} cols x {a.rows:,} rows", "scipy ks_2samp", "ks:strata", "ks:scipy")
        s, n = res.get("ks:strata", {}).get("ks"), res.get("ks:scipy", {}).get("ks")
        if s and n:
            ok = all(abs(x[0] - y[0]) <= 1e-12 and abs(x[1] - y[1]) < 0.01 for x, y in zip(s, n))
            all_ok &= ok
            notes.append(f"ks (D, p): strata {s} vs scipy {n}: {'agree' if ok else 'FAIL'} (D exact, p within 0.01: "
                         "strata uses kstwobign, scipy asymp uses kstwo(round(en)))")
    if "profile" in a.ops:
        add(f"profile: {a.rows:,} rows x 10 cols", "DuckDB SUMMARIZE", "profile:strata", "profile:duckdb", 1.0)
        chk = res.get("profile:strata", {}).get("check")
        if chk:
            all_ok &= chk["ok"]
            notes.append("profile check vs pyarrow.compute (count, nulls, min, max, mean): "
                         + ("ok" if chk["ok"] else "FAIL " + "; ".join(chk["problems"])))
        d = res.get("profile:duckdb", {})
        if "threads" in d:
            notes.append(f"DuckDB SUMMARIZE ran with threads={d['threads']}; it computes count, nulls, min, max, "
                         "approx_unique, avg, std, q25/q50/q75; strata also computes NaN counts, 7 quantiles, "
                         "histograms, top values and keeps mergeable sketches.")
    if "profile_table" in a.ops:
        add("profile of a strata table (full scan)", None, "profile_table:full", None)
        add("profile after a 1% append (incremental)", None, "profile_table:incremental", None)
        srcs = res.get("profile_table:incremental", {}).get("sources")
        if srcs:
            notes.append(f"incremental runs' sources: {srcs}")
            if any(x != "incremental" for x in srcs):
                all_ok = False
    for k, r in res.items():
        if "error" in r:
            all_ok = False
            notes.append(f"{k}: ERROR {r['error'].splitlines()[0][:200]}")
        elif "times" in r:
            notes.append(f"{k}: times {[round(t, 3) for t in r['times']]} s")
    return {"rows": rows, "notes": notes, "all_checks_ok": all_ok}


HEADERS = ["operation", "peer", "strata", "peer time", "strata/peer time (lower=better)",
           "speedup peer/strata (higher=better)", "peak RSS strata", "peak RSS peer", "CPU s strata / peer", "target"]


def _cells(r):
    return [r["op"], r["peer"], r["strata"], r["peer_time"], r["ratio"], r["speedup"], r["rss_strata"],
            r["rss_peer"], r["cpu"], r["target"]]


def print_report(report) -> None:
    print_table(HEADERS, [_cells(r) for r in report["rows"]])
    print("\ntargets: PSI of 10 columns x 10M rows <= 200 ms; profile of 10M rows x 10 columns <= 1 s (wall, best run).")
    print("peak RSS: each (operation, engine) in a fresh subprocess; includes the interpreter, libraries and the")
    print("          memory-mapped inputs. CPU s: process CPU time (all threads) of the best run.")
    for n in report["notes"]:
        print(" - " + n)


def report_markdown(report) -> str:
    return markdown_table(HEADERS, [_cells(r) for r in report["rows"]]) + "\n\n" + "\n".join(
        "- " + n for n in report["notes"]) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows per dataset (default 10M)")
    ap.add_argument("--quick", action="store_true", help="1,000,000 rows")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (best-of), after one warm-up run")
    ap.add_argument("--only", default=",".join(ALL_OPS), help="comma list of: " + ", ".join(ALL_OPS))
    ap.add_argument("--ks-cols", type=int, default=2, help="columns for the KS comparison (scipy is slow)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per worker subprocess")
    ap.add_argument("--force-fixtures", action="store_true", help="regenerate the cached inputs")
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
        emit_result(json.loads(json.dumps(WORKERS[a.worker](a), default=str)))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
