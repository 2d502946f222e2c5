#!/usr/bin/env python3
"""Point-in-time retrieval benchmark of the feature store: strata's
FeatureStore.get_historical_features vs DuckDB's ASOF JOIN expressing the same query (TTL included)
vs Feast's local offline store, on the same data in the same run.

    .venv/bin/python bench/pit/bench_pit.py                      # 1M entity rows, 3 views x 10M rows, 100k keys
    .venv/bin/python bench/pit/bench_pit.py --skip-feast         # strata and DuckDB only
    .venv/bin/python bench/pit/bench_pit.py --entities 100000 --rows 1000000 --keys 10000 --feast-scale 1

Issue targets: strata >= 1.5x faster than DuckDB, >= 20x faster than Feast, peak RSS <= 2x the inputs.

Data (numpy, fixed seed, cached under bench/out/pit/<size>/): `--views` feature views of `--rows` rows
each (int64 user_id over `--keys` keys, event time `ts` timestamp[us, UTC] over 30 days with
(user_id, ts) distinct within a view so the answer is unique for every engine, `created` = ts + up
to 1 h, float64 score, float32 ratio, int64 count, int32 level), in event-time order as an appended
log would be, each written with strata.write_table as a strata (Delta) table. TTLs differ per view
(1d, 7d, none, ...). The entity frame: `--entities` rows, user_id over the same keys plus 1%
unknown ones, event_timestamp uniform over the 30 days plus one more, a 0/1 label and row_id (the
row number), in random order; kept as an Arrow IPC file.

Engines (each in its own fresh subprocess, so the peak RSS is that engine's alone: wait4
ru_maxrss of the child, interpreter, libraries and memory-mapped entity frame included):
- strata: FeatureStore(repo).get_historical_features(entity, features=[every feature]) with the
  registry applied once at generation time; reads the Delta tables (Parquet) every run. One row
  per `--strata-budgets` entry (memory_budget_bytes; default "default,512M": FeatureStore's own
  default, a quarter of physical memory, under which the full-size views are joined in memory, and
  512 MiB, under which they are spilled to disk and joined out of core); the first is the
  reference for the ratios and checks.
- duckdb: one SELECT over the entity frame (a registered Arrow table) with one ASOF LEFT JOIN
  per view, reading the same Parquet data files the strata tables hold (read_parquet over the
  table's live files), TTL applied as CASE WHEN v.ts >= e.event_timestamp - ttl THEN v.f END on
  the chosen (latest) row -- the same as strata's "latest row with T - ttl <= t <= T", since if the
  latest row at or before T is older than T - ttl none in the window exists -- ORDER BY row_id
  (strata keeps the entity order; so must the peer), to an Arrow table.
- feast: bench/pit/feast_peer.py in .venv-feast (bench/pit/setup-feast): a temporary feature
  repository with offline_store: file (Feast's local, dask-based offline store), FileSources on
  Parquet copies of the same views, get_historical_features(entity_df=pandas).to_df(). Run at
  `--feast-scale` of the sizes (default 0.1: its pandas/dask merge materializes every (entity
  row, feature row of the key) pair), where strata and DuckDB are run again for the ratio.

strata and DuckDB: one untimed warm-up, then best-of-`--repeat`; Feast: an untimed warm-up on
1,000 entity rows, then `--feast-repeat` timed runs, with a `--feast-timeout` (reported as "did not
finish"). After every run, untimed: per feature the number of non-null values, the sum and, for
integer features, a checksum weighted by row_id (which entity row got which value). strata and
DuckDB must agree (counts and integer checksums exactly, sums within 1e-9 relative). Feast
leaves out the entity rows for which some view has rows of the key but none in [T - ttl, T]
(strata and DuckDB keep them, with nulls): the script checks that exactly those rows are missing
and that Feast agrees with strata on the others. A mismatch prints FAIL and the exit status is 1.
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
from common import (  # noqa: E402
    OUT_DIR,
    REPO_DIR,
    emit_result,
    fmt_mib,
    fmt_s,
    machine_info,
    markdown_table,
    print_machine_info,
    print_table,
    rss_kb,
    run_worker,
    worker_env,
)

SCRIPT = Path(__file__).resolve()
FEAST_PEER = SCRIPT.parent / "feast_peer.py"
FEAST_PYTHON = REPO_DIR / ".venv-feast" / "bin" / "python"
SEED = 20261126
DAY_US = 86_400 * 1_000_000
SPAN_US = 30 * DAY_US
EPOCH_US = 1_767_225_600 * 1_000_000  # 2026-01-01 00:00 UTC
TTLS = ["1d", "7d", None, "2d", "14d", "12h"]  # view i gets TTLS[i % len]
TTL_UNIT_US = {"h": 3600 * 1_000_000, "d": DAY_US}
# (suffix, type name in strata's YAML, numpy dtype, upper bound of ints)
FEATURES = [("score", "float64", "float64", None), ("ratio", "float32", "float32", None),
            ("count", "int64", "int64", 10_000), ("level", "int32", "int32", 100)]
REL_TOL = 1e-9


# =================================================================================================
# The data set (shared with feast_peer.py, which imports this module: keep the top level stdlib-only)
# =================================================================================================
def view_specs(n_views: int) -> list[dict]:
    out = []
    for i in range(n_views):
        ttl = TTLS[i % len(TTLS)]
        name = f"fv{i}"
        out.append({"name": name, "ttl": ttl, "ttl_us": None if ttl is None else int(ttl[:-1]) * TTL_UNIT_US[ttl[-1]],
                    "features": [(f"{name}_{s}", t, d, hi) for s, t, d, hi in FEATURES]})
    return out


def scale_dir(entities: int, rows: int, keys: int, views: int) -> Path:
    return OUT_DIR / "pit" / f"e{entities}_r{rows}_k{keys}_v{views}"


def checksums(columns: dict, row_id) -> dict:
    """Per feature: non-null count, float sum, and for integer features sum((row_id+1) * value) mod
    2^64 (which entity row got which value; independent of the output's row order). `columns`
    maps name -> (numpy values with anything where invalid, numpy bool validity, is_int)."""
    import numpy as np

    w = row_id.astype(np.uint64) + np.uint64(1)
    out = {}
    for name, (values, valid, is_int) in columns.items():
        v = np.where(valid, values, 0)
        r = {"count": int(valid.sum()), "sum": float(v.astype(np.float64).sum())}
        if is_int:
            r["weighted"] = int((v.astype(np.int64).astype(np.uint64) * w).sum(dtype=np.uint64))
        out[name] = r
    return out


def compare(a: dict, b: dict) -> list[str]:
    """Differences between two engines' checksums (empty when they agree)."""
    problems = []
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name), b.get(name)
        if x is None or y is None:
            problems.append(f"{name}: missing in one result")
            continue
        if x["count"] != y["count"]:
            problems.append(f"{name}: non-null {x['count']} != {y['count']}")
        if x.get("weighted") != y.get("weighted"):
            problems.append(f"{name}: row-weighted checksum {x.get('weighted')} != {y.get('weighted')}")
        if abs(x["sum"] - y["sum"]) > REL_TOL * max(abs(x["sum"]), abs(y["sum"]), 1e-300):
            problems.append(f"{name}: sum {x['sum']!r} != {y['sum']!r}")
    return problems


def arrow_checksums(t, specs) -> dict:
    import numpy as np

    cols = {}
    for v in specs:
        for name, _, dtype, hi in v["features"]:
            c = t[name]
            # Integer columns with nulls come back as float64 with NaN; values < 2^53 stay exact.
            cols[name] = (np.nan_to_num(c.to_numpy(zero_copy_only=False).astype(np.float64)),
                          c.is_valid().to_numpy(zero_copy_only=False), hi is not None)
    return checksums(cols, t["row_id"].to_numpy())


# =================================================================================================
# Workers (run as subprocesses of the driver)
# =================================================================================================
def w_gen(a) -> dict:
    """Writes the views as strata tables (and Parquet files for Feast with --parquet), the entity
    frame as an Arrow IPC file, the feature repository, and applies it."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    import strata

    d = Path(a.dir)
    if d.exists():
        shutil.rmtree(d)
    (d / "repo" / "data").mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    t0 = time.perf_counter()
    specs = view_specs(a.views)
    ts_type = pa.timestamp("us", tz="UTC")
    info = {"views": {}, "entities": a.entities, "rows": a.rows, "keys": a.keys}
    input_bytes = 0
    for v in specs:
        n = a.rows
        key = rng.integers(0, a.keys, n + n // 50 + 1000, dtype=np.int64)
        ts = rng.integers(0, SPAN_US, len(key), dtype=np.int64)
        comp = np.unique((key << 42) | ts)  # ts < 2^42 us (50 days): (key, ts) distinct
        comp = comp[rng.permutation(len(comp))[:n]]
        fkey, fts = comp >> 42, comp & ((1 << 42) - 1)
        order = np.argsort(fts, kind="stable")  # an event log: appended in time order
        fkey, fts = fkey[order], fts[order]
        cols = {"user_id": pa.array(fkey), "ts": pa.array(fts + EPOCH_US, ts_type),
                "created": pa.array(fts + EPOCH_US + rng.integers(0, 3600 * 1_000_000, n), ts_type)}
        for name, _, dtype, hi in v["features"]:
            if hi is None:
                cols[name] = pa.array(rng.random(n).astype(dtype))
            else:
                cols[name] = pa.array(rng.integers(0, hi, n).astype(dtype))
        t = pa.table(cols)
        input_bytes += t.nbytes
        strata.write_table(str(d / "repo" / "data" / v["name"]), t, mode="overwrite")
        if a.parquet:
            (d / "parquet").mkdir(exist_ok=True)
            pq.write_table(t, str(d / "parquet" / f"{v['name']}.parquet"), compression="snappy")
        info["views"][v["name"]] = {"rows": t.num_rows, "arrow_bytes": t.nbytes, "ttl": v["ttl"]}
        del t, cols

    m = a.entities
    ekey = rng.integers(0, a.keys + max(1, a.keys // 100), m + m // 50 + 1000, dtype=np.int64)  # ~1% unknown
    ets = rng.integers(0, SPAN_US + DAY_US, len(ekey), dtype=np.int64)
    comp = np.unique((ekey << 42) | ets)  # (key, time) distinct: Feast de-duplicates on it
    comp = comp[rng.permutation(len(comp))[:m]]
    entity = pa.table({
        "user_id": pa.array(comp >> 42),
        "event_timestamp": pa.array((comp & ((1 << 42) - 1)) + EPOCH_US, ts_type),
        "label": pa.array(rng.integers(0, 2, m, dtype=np.int64)),
        "row_id": pa.array(np.arange(m, dtype=np.int64)),
    })
    input_bytes += entity.nbytes
    with pa.OSFile(str(d / "entity.arrow"), "wb") as f, pa.ipc.new_file(f, entity.schema) as w:
        w.write_table(entity, max_chunksize=1 << 20)

    (d / "repo" / "strata.yaml").write_text("project: bench\nonline: {type: rocksdb, path: online}\n")
    lines = ["entities:", "  - name: user", "    join_keys: [{name: user_id, type: int64}]", "sources:"]
    for v in specs:
        lines += [f"  - name: {v['name']}", f"    table: data/{v['name']}", "    timestamp_field: ts",
                  "    created_timestamp_field: created"]
    lines.append("feature_views:")
    for v in specs:
        lines += [f"  - name: {v['name']}", "    entities: [user]", f"    source: {v['name']}"]
        if v["ttl"]:
            lines.append(f"    ttl: {v['ttl']}")
        lines.append("    features:")
        lines += [f"      - {{name: {name}, type: {typ}}}" for name, typ, _, _ in v["features"]]
    (d / "repo" / "features.yaml").write_text("\n".join(lines) + "\n")
    strata.FeatureStore(str(d / "repo")).apply()
    info.update(entity_bytes=entity.nbytes, input_bytes=input_bytes, gen_seconds=time.perf_counter() - t0,
                parquet=bool(a.parquet))
    (d / "meta.json").write_text(json.dumps(info))
    return info


def load_entity(d: Path):
    import pyarrow as pa

    return pa.ipc.open_file(pa.memory_map(str(d / "entity.arrow"))).read_all()


def duckdb_query(d: Path, specs: list[dict]) -> str:
    import strata

    select, joins = ["e.*"], []
    for i, v in enumerate(specs):
        table = d / "repo" / "data" / v["name"]
        files = [str(table / f["path"]) for f in strata.Table(str(table)).files()]
        names = [f[0] for f in v["features"]]
        joins.append(f"ASOF LEFT JOIN (SELECT user_id, ts, {', '.join(names)} FROM read_parquet({files!r})) AS v{i} "
                     f"ON e.user_id = v{i}.user_id AND e.event_timestamp >= v{i}.ts")
        for n in names:
            if v["ttl_us"] is None:
                select.append(f"v{i}.{n}")
            else:  # TTL on the chosen (latest) row: older than T - ttl means no row in the window
                select.append(f"CASE WHEN v{i}.ts >= e.event_timestamp - to_microseconds({v['ttl_us']}) "
                              f"THEN v{i}.{n} END AS {n}")
    return f"SELECT {', '.join(select)} FROM e {' '.join(joins)} ORDER BY e.row_id"


def w_run(a) -> dict:
    """One engine (strata or duckdb): warm-up, best-of-N, checksums after every run."""
    import numpy as np

    d = Path(a.dir)
    specs = view_specs(a.views)
    entity = load_entity(d)
    refs = [f"{v['name']}:{f[0]}" for v in specs for f in v["features"]]
    if a.engine.startswith("strata"):
        import strata

        fs = strata.FeatureStore(str(d / "repo"))
        fs.apply()  # no change: the repository was applied when it was generated
        budget = parse_size(a.memory_budget)

        def fn():
            return fs.get_historical_features(entity, features=refs, memory_budget_bytes=budget)
    elif a.engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.register("e", entity)
        q = duckdb_query(d, specs)

        def fn():
            return con.sql(q).to_arrow_table()
    else:
        raise ValueError(a.engine)

    base_rss_kb = rss_kb()[0]
    feast_check = None
    times, cpu, sums, ordered = [], [], [], []
    for i in range(1 + a.repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        sums.append(arrow_checksums(out, specs))
        ordered.append(bool(np.array_equal(out["row_id"].to_numpy(), np.arange(entity.num_rows))))
        rows = out.num_rows
        if i == 0 and a.feast_dropped and Path(a.feast_dropped).exists():  # strata's answer on Feast's rows
            feast_check = feast_comparison(out, specs, np.load(a.feast_dropped), a.keys)
        del out
        if i > 0:
            times.append(dt)
            cpu.append(dc)
    best = min(times)
    return {"best": best, "median": sorted(times)[len(times) // 2], "times": times, "cpu_best": cpu[times.index(best)],
            "rows": rows, "checksums": sums, "entity_order": ordered, "base_rss_kb": base_rss_kb,
            "feast_check": feast_check}


def feast_comparison(out, specs, dropped, keys: int) -> dict:
    """strata's checksums without the entity rows Feast left out, and whether those are exactly the
    rows of a known key (one every view has rows for) with some view's features null (no row in
    that view's window)."""
    import numpy as np
    import pyarrow as pa

    row_id = out["row_id"].to_numpy()
    keep = ~np.isin(row_id, dropped)
    any_null = np.zeros(out.num_rows, dtype=bool)
    for v in specs:
        any_null |= out[v["features"][0][0]].is_null().to_numpy(zero_copy_only=False)
    expected = any_null & (out["user_id"].to_numpy() < keys)
    return {"checksums": arrow_checksums(out.filter(pa.array(keep)), specs),
            "dropped": int((~keep).sum()), "expected_dropped": int(expected.sum()),
            "same_rows": bool(np.array_equal(np.sort(row_id[~keep]), np.sort(row_id[expected])))}


WORKERS = {"gen": w_gen, "run": w_run}


def parse_size(text: str | None) -> int | None:
    """'default' (or None) -> None (strata's own default); '1G', '768M', '1073741824' -> bytes."""
    if not text or text == "default":
        return None
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip().upper().rstrip("IB")
    return int(float(t[:-1]) * units[t[-1]]) if t[-1] in units else int(t)


# =================================================================================================
# Driver
# =================================================================================================
class Scale:
    def __init__(self, entities: int, rows: int, keys: int, views: int):
        self.entities, self.rows, self.keys, self.views = entities, rows, keys, views
        self.dir = scale_dir(entities, rows, keys, views)

    def label(self) -> str:
        return f"{self.entities:,} entity rows x {self.views} views x {self.rows:,} rows, {self.keys:,} keys"

    def args(self) -> list[str]:
        return ["--dir", str(self.dir), "--entities", str(self.entities), "--rows", str(self.rows),
                "--keys", str(self.keys), "--views", str(self.views)]


def ensure_data(a, s: Scale, parquet: bool) -> dict:
    meta = s.dir / "meta.json"
    if not a.force_data and meta.exists() and (not parquet or json.loads(meta.read_text()).get("parquet")):
        return json.loads(meta.read_text())
    print(f"  .. generating {s.label()} into {s.dir.relative_to(REPO_DIR)}", end="", flush=True)
    argv = [sys.executable, str(SCRIPT), "--worker", "gen"] + s.args() + (["--parquet"] if parquet else [])
    r = run_worker(argv, env=worker_env(), timeout=a.timeout)
    print(f" done in {r['worker_wall_s']:.1f}s", flush=True)
    return json.loads(meta.read_text())


def call(a, s: Scale, engine: str) -> dict:
    dropped = s.dir / "feast_dropped_row_ids.npy"
    if engine == "feast":
        dropped.unlink(missing_ok=True)
        argv = [str(FEAST_PYTHON), str(FEAST_PEER), "--repeat", str(a.feast_repeat)] + s.args()
        timeout = a.feast_timeout
    else:
        argv = [sys.executable, str(SCRIPT), "--worker", "run", "--engine", engine, "--repeat", str(a.repeat)]
        argv += s.args()
        if engine.startswith("strata"):
            argv += ["--memory-budget", a.budget_of[engine]]
            if engine == a.ref and dropped.exists():
                argv += ["--feast-dropped", str(dropped)]
        timeout = a.timeout
    print(f"  .. {engine:<8}", end="", flush=True)
    try:
        r = run_worker(argv, env=worker_env(), timeout=timeout)
    except RuntimeError as e:
        msg = str(e)
        if "timed out" in msg:
            print(f" did not finish within {timeout:.0f} s", flush=True)
            return {"error": f"did not finish within {timeout:.0f} s", "dnf": True, "timeout": timeout}
        print(" FAILED: " + msg.splitlines()[0][:200], flush=True)
        sys.stderr.write(msg[-4000:] + "\n")
        return {"error": msg}
    print(f" done in {r['worker_wall_s']:.1f}s: best {fmt_s(r['best'])} (peak RSS {fmt_mib(r.get('peak_rss_kb'))})",
          flush=True)
    return r


def check_scale(a, res: dict) -> tuple[list[str], list[str]]:
    """Every run of every engine against the reference strata run's first result (Feast: on the
    rows it returned). Returns (problems, notes)."""
    ref = (res.get(a.ref) or {}).get("checksums")
    problems, notes = [], []
    if not ref:
        return [f"{a.ref} produced no result to compare with"], notes
    for eng, r in res.items():
        if "error" in r:
            continue
        want = ref[0]
        if eng == "feast":
            fc = res[a.ref].get("feast_check")
            if fc is None:
                problems.append("feast: strata did not compute its answer on the rows Feast returned")
                continue
            want = fc["checksums"]
            notes.append(f"feast returned {r['rows']:,} of {r['rows'] + r['dropped']:,} entity rows: it leaves out the "
                         f"{r['dropped']:,} rows for which some view has rows of the key but none in [T - ttl, T] "
                         f"(strata and DuckDB return them, with that view's features null); "
                         + ("exactly those rows (checked)" if fc["same_rows"] and fc["dropped"] == r["dropped"] else
                            f"NOT exactly those: strata expects {fc['expected_dropped']:,}")
                         + "; compared with strata's answer on the rows it returned")
            if not fc["same_rows"]:
                problems.append("feast: left out other rows than those explained by the TTL windows")
        for i, c in enumerate(r["checksums"]):
            diff = compare(want, c)
            if diff:
                problems.append(f"{eng} run {i}: " + "; ".join(diff[:6]) + (" ..." if len(diff) > 6 else ""))
        if eng != "feast" and not all(r.get("entity_order", [True])):
            problems.append(f"{eng}: rows not in entity order")
    return problems, notes


HEADERS = ["engine", "time (best)", "median", "CPU s", "peer/strata", "peak RSS", "peak/input", "check"]


def ordered(a, res: dict) -> list[str]:
    order = a.strata_engines + ["duckdb", "feast"]
    return sorted(res, key=order.index)


def report_rows(a, res: dict, meta: dict, problems: list[str]) -> list[list[str]]:
    s = (res.get(a.ref) or {}).get("best")
    rows = []
    for eng in ordered(a, res):
        r = res[eng]
        if "error" in r:
            rows.append([eng, "did not finish" if r.get("dnf") else "ERROR", "-", "-",
                         f"> {r['timeout'] / s:.0f}x" if r.get("dnf") and s else "-", "-", "-", "-"])
            continue
        bad = any(p.startswith(eng + " ") or p.startswith(eng + ":") for p in problems)
        peak = r.get("peak_rss_kb")
        rows.append([eng, fmt_s(r["best"]), fmt_s(r["median"]), fmt_s(r["cpu_best"]),
                     "-" if eng == a.ref or not s else f"{r['best'] / s:.2f}x",
                     fmt_mib(peak), f"{peak * 1024 / meta['input_bytes']:.2f}" if peak else "-",
                     "FAIL" if bad else ("ref" if eng == a.ref else "ok")])
    return rows


def verdicts(a, out: dict, feast_note) -> list[str]:
    """The issue's targets, for each strata configuration: DuckDB and peak memory at full size,
    Feast at the size it ran."""
    v = []
    full = out["full"]
    for eng in a.strata_engines:
        r = full["results"].get(eng, {"error": 1})
        if "error" in r:
            v.append(f"{eng}: ERROR")
            continue
        d = full["results"].get("duckdb", {"error": 1})
        if "error" not in d:
            x = d["best"] / r["best"]
            v.append(f"{eng} vs DuckDB {x:.2f}x ({'met' if x >= 1.5 else 'NOT met'})")
        peak = r["peak_rss_kb"] * 1024 / full["meta"]["input_bytes"]
        v.append(f"{eng} peak/input {peak:.2f} ({'met' if peak <= 2 else 'NOT met'})")
        for name, o in out.items():
            f, s = o["results"].get("feast"), o["results"].get(eng)
            if f is None or s is None or "error" in s:
                continue
            if "error" in f:
                v.append(f"{eng} vs Feast: Feast {'did not finish' if f.get('dnf') else 'failed'} ({name})")
            else:
                x = f["best"] / s["best"]
                v.append(f"{eng} vs Feast {x:.0f}x ({'met' if x >= 20 else 'NOT met'}; {name} size)")
    if feast_note:
        v.append(feast_note)
    return v


def run(a) -> int:
    mi = machine_info()
    import duckdb

    vers = {"duckdb": duckdb.__version__, "feast": feast_version()}
    print("=" * 100)
    print(f"strata point-in-time retrieval benchmark  repeat=best-of-{a.repeat} (after 1 warm-up run)")
    print_machine_info(mi, {"versions": "  ".join(f"{k} {v}" for k, v in vers.items())})
    print("=" * 100)
    print("strata memory budgets: " + ", ".join(f"{e} = {a.budget_of[e]}" for e in a.strata_engines)
          + f" (the reference for the ratios: {a.ref})")
    t_start = time.perf_counter()
    full = Scale(a.entities, a.rows, a.keys, a.views)
    scales = [("full", full, a.strata_engines + ["duckdb"])]
    feast_note = None
    if a.skip_feast:
        feast_note = "Feast skipped (--skip-feast)"
    elif not FEAST_PYTHON.exists():
        feast_note = "Feast skipped: .venv-feast missing (run bench/pit/setup-feast)"
    elif a.feast_scale >= 1:
        scales[0][2].insert(0, "feast")  # Feast first: the strata reference run then checks its rows
    else:
        f = a.feast_scale
        small = Scale(max(1, round(a.entities * f)), max(1, round(a.rows * f)), max(1, round(a.keys * f)), a.views)
        scales.append((f"reduced x{f:g}", small, ["feast"] + a.strata_engines + ["duckdb"]))
    all_ok, out, md = True, {}, []
    for name, s, engines in scales:
        print(f"\n[{name}] {s.label()}")
        meta = ensure_data(a, s, parquet="feast" in engines)
        print(f"  input (Arrow bytes): entity {meta['entity_bytes'] / 2**20:.0f} MiB + views "
              f"{(meta['input_bytes'] - meta['entity_bytes']) / 2**20:.0f} MiB = "
              f"{meta['input_bytes'] / 2**20:.0f} MiB; "
              f"TTLs {', '.join(v['ttl'] or 'none' for v in meta['views'].values())}")
        res = {eng: call(a, s, eng) for eng in engines}
        problems, notes = check_scale(a, res)
        print()
        rows = report_rows(a, res, meta, problems)
        print_table(HEADERS, rows)
        if problems:
            all_ok = False
            for p in problems:
                print(" - FAIL " + p)
        else:
            n = sum(len(r["checksums"]) for r in res.values() if "error" not in r)
            nf = sum(len(v["features"]) for v in view_specs(s.views))
            print(f" - agreement: all {n} runs (warm-ups included) equal {a.ref}'s: non-null count, sum and "
                  f"row-weighted checksum of each of the {nf} features")
        for n in notes:
            print(" - " + n)
        for eng in ordered(a, res):
            r = res[eng]
            if "error" in r:
                if not r.get("dnf"):
                    all_ok = False
                continue
            print(f" - {eng}: times {[round(x, 3) for x in r['times']]} s; RSS before the first run "
                  f"{fmt_mib(r.get('base_rss_kb'))}" + (f"; {r['note']}" if r.get("note") else ""))
        out[name] = {"scale": vars(s) | {"dir": str(s.dir)}, "meta": meta, "results": res, "problems": problems,
                     "notes": notes}
        md.append(f"**{name}**: {s.label()}, input {meta['input_bytes'] / 2**20:.0f} MiB\n\n"
                  + markdown_table(HEADERS, rows))

    print("\ntarget: >= 1.5x DuckDB, >= 20x Feast, peak <= 2x inputs (full size; Feast at the size it ran)")
    v = verdicts(a, out, feast_note)
    print("result: " + "; ".join(v))
    print("peer/strata: how many times faster strata is. peak RSS: each engine's own subprocess (interpreter,")
    print("libraries, memory-mapped entity frame, warm-up and untimed checks included); peak/input: peak RSS over the")
    print("Arrow bytes of the entity frame plus all views.")
    total = time.perf_counter() - t_start
    print(f"\nbenchmark wall time: {total:.0f} s   load average at end: {tuple(round(x, 2) for x in os.getloadavg())}")
    dest = OUT_DIR / "pit" / f"results_{a.rows}.json"
    dest.write_text(json.dumps({"machine": mi, "versions": vers, "budgets": a.budget_of, "scales": out, "verdicts": v,
                                "wall_s": total, "loadavg_end": os.getloadavg()}, indent=1, default=str))
    (OUT_DIR / "pit" / f"results_{a.rows}.md").write_text("\n\n".join(md) + "\n\n" + "; ".join(v) + "\n")
    print(f"results: {dest.relative_to(REPO_DIR)} and .md")
    return 0 if all_ok else 1


def feast_version() -> str:
    if not FEAST_PYTHON.exists():
        return "not installed"
    import subprocess

    p = subprocess.run([str(FEAST_PYTHON), "-c", "import importlib.metadata as m; print(m.version('feast'))"],
                       capture_output=True, text=True)
    return p.stdout.strip() or "?"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=1_000_000, help="entity frame rows")
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows of each feature view")
    ap.add_argument("--keys", type=int, default=100_000, help="distinct entity keys")
    ap.add_argument("--views", type=int, default=3, help="feature views (TTLs 1d, 7d, none, 2d, ...)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of strata and DuckDB (best-of), after a warm-up")
    ap.add_argument("--feast-scale", type=float, default=0.1,
                    help="Feast runs at this fraction of entities, rows and keys (strata and DuckDB again there)")
    ap.add_argument("--feast-repeat", type=int, default=1, help="timed Feast runs")
    ap.add_argument("--feast-timeout", type=float, default=1200,
                    help="seconds before Feast is reported as not finished")
    ap.add_argument("--skip-feast", action="store_true")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per strata/DuckDB/generation subprocess")
    ap.add_argument("--force-data", action="store_true", help="regenerate the cached data")
    ap.add_argument("--strata-budgets", default="default,512M",
                    help="comma list of memory_budget_bytes for strata runs, each its own row: 'default' (strata's "
                         "own: a quarter of physical memory) or a size like 1G, 512M; the first is the reference")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--memory-budget", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--parquet", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--feast-dropped", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    budgets = [b.strip() for b in a.strata_budgets.split(",") if b.strip()] or ["default"]
    try:
        [parse_size(b) for b in budgets]
    except (ValueError, KeyError):
        ap.error(f"bad --strata-budgets {a.strata_budgets!r}")
    a.budget_of = {("strata" if b == "default" else f"strata@{b}"): b for b in budgets}
    a.strata_engines = list(a.budget_of)
    a.ref = a.strata_engines[0]
    if a.worker:
        sys.path.insert(0, str(REPO_DIR / "python"))
        emit_result(WORKERS[a.worker](a))
        return 0
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
