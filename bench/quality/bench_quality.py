#!/usr/bin/env python3
"""Data-quality benchmark: a 12-expectation suite on N rows x 10 columns, strata vs DuckDB.

    .venv/bin/python bench/quality/bench_quality.py --quick     # 1M rows
    .venv/bin/python bench/quality/bench_quality.py             # 10M rows (default)
    .venv/bin/python bench/quality/bench_quality.py --rows 3000000 --peers duckdb

What is measured: validating an in-memory Arrow table (memory-mapped from a cached IPC file, so
both engines read the same buffers without a copy). strata runs `Suite.validate(table)` (one
multi-threaded pass computing every expectation); DuckDB runs one SQL query computing the
equivalent aggregates over the same Arrow table (its replacement scan, all threads). The suite:

    not_null(id), unique(id), between(amount, 0..10000, mostly 0.99), in_set(currency),
    regex(email), row_count_between, mean_between(amount), stdev_between(amount),
    null_proportion_between(discount), column_pair_less(discount <= amount),
    string_length_between(category, 3..20), distinct_count_between(user_id)

Every peer runs in its own fresh subprocess (peak RSS = that child's ru_maxrss: interpreter,
libraries and the mapped data included), runs once untimed, then best-of-N. After every run the
numbers both engines report (unexpected counts, mean, stdev, distinct count, ...) are compared
with each other and with numpy's, and a mismatch is printed as FAIL.

Adding a peer (e.g. Great Expectations, run from its own venv): write `peer_<name>(table)`
returning the CHECK_KEYS dict, add it to PEERS, and (if it needs another interpreter) give its
python in PEER_PYTHON.
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
SEED = 20261201
CURRENCIES = ["EUR", "USD", "GBP", "JPY", "CHF"]
CATEGORIES = ["books", "garden", "toys", "electronics", "food", "sports", "music", "home", "beauty", "auto",
              "health", "pets", "office", "tools", "baby", "jewelry", "shoes", "outdoor", "games", "kitchen"]
EMAIL_RE = "^[^@]+@[^@]+$"

# The numbers every peer reports; they must agree.
CHECK_KEYS = ("rows", "id_nulls", "id_duplicate_rows", "amount_bad", "amount_n", "currency_bad", "email_bad",
              "amount_mean", "amount_stdev", "discount_nulls", "pair_bad", "category_bad", "distinct_users")


def suite_spec() -> list[dict]:
    return [
        {"type": "not_null", "column": "id"},
        {"type": "unique", "column": "id"},
        {"type": "between", "column": "amount", "min": 0, "max": 10000, "mostly": 0.99},
        {"type": "in_set", "column": "currency", "values": CURRENCIES},
        {"type": "regex", "column": "email", "pattern": EMAIL_RE},
        {"type": "row_count_between", "min": 1},
        {"type": "mean_between", "column": "amount", "min": 0, "max": 1000},
        {"type": "stdev_between", "column": "amount", "min": 0, "max": 5000},
        {"type": "null_proportion_between", "column": "discount", "max": 0.1},
        {"type": "column_pair_less", "column_a": "discount", "column_b": "amount", "or_equal": True},
        {"type": "string_length_between", "column": "category", "min": 3, "max": 20},
        {"type": "distinct_count_between", "column": "user_id", "min": 1},
    ]


DUCKDB_SQL = f"""
SELECT
  count(*)                                                        AS rows,
  count(*) - count(id)                                            AS id_nulls,
  (SELECT coalesce(sum(c), 0) FROM (SELECT count(*) AS c FROM t WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1))
                                                                  AS id_duplicate_rows,
  count_if(amount < 0 OR amount > 10000 OR isnan(amount))         AS amount_bad,
  count(amount)                                                   AS amount_n,
  count_if(currency NOT IN ({", ".join(f"'{c}'" for c in CURRENCIES)}))  AS currency_bad,
  count_if(NOT regexp_matches(email, '{EMAIL_RE}'))               AS email_bad,
  avg(amount)                                                     AS amount_mean,
  stddev_samp(amount)                                             AS amount_stdev,
  count(*) - count(discount)                                      AS discount_nulls,
  count_if(NOT (discount <= amount))                              AS pair_bad,
  count_if(length(category) < 3 OR length(category) > 20)         AS category_bad,
  count(DISTINCT user_id)                                         AS distinct_users
FROM t
"""


# =================================================================================================
# Data
# =================================================================================================
def data_path(rows: int) -> Path:
    return OUT_DIR / "quality" / f"data_{rows}.arrow"


def generate(rows: int, dest: Path) -> dict:
    """N rows x 10 columns with a few deliberate defects (out-of-range amounts, unknown
    currencies, malformed e-mails, a duplicated id, null discounts), written in 1M-row batches."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(SEED)
    ids = rng.permutation(rows).astype(np.int64)
    if rows > 10:
        ids[rows // 2] = ids[rows // 3]  # one duplicated id: two unexpected rows for unique
    schema = pa.schema([("id", pa.int64()), ("user_id", pa.int64()), ("amount", pa.float64()), ("qty", pa.int32()),
                        ("discount", pa.float64()), ("currency", pa.string()), ("email", pa.string()),
                        ("category", pa.string()), ("ts", pa.timestamp("us", tz="UTC")), ("flag", pa.bool_())])
    cur = pa.array(CURRENCIES + ["XXX"])
    cats = pa.array(CATEGORIES + ["x"])
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    step = 1_000_000
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as w:
        for off in range(0, rows, step):
            n = min(step, rows - off)
            amount = np.round(rng.lognormal(5, 1.2, n), 2)
            amount[rng.random(n) < 0.001] = -1.0
            discount = np.round(amount * rng.random(n) * 0.3, 2)
            discount[rng.random(n) < 0.0005] += 1e6  # discount > amount
            users = rng.integers(0, 1_000_000, n)
            ci = rng.integers(0, 5, n)
            ci[rng.random(n) < 0.0001] = 5
            gi = rng.integers(0, 20, n)
            gi[rng.random(n) < 0.0001] = 20
            emails = [f"user{u}@example.com" for u in users.tolist()]
            for k in np.nonzero(rng.random(n) < 0.0002)[0].tolist():
                emails[k] = f"user{users[k]}.example.com"
            batch = pa.record_batch([
                pa.array(ids[off:off + n]),
                pa.array(users),
                pa.array(amount),
                pa.array(rng.integers(1, 100, n, dtype=np.int32)),
                pa.array(discount, mask=rng.random(n) < 0.05),
                cur.take(pa.array(ci)),
                pa.array(emails, pa.string()),
                cats.take(pa.array(gi)),
                pa.array(1_767_225_600_000_000 + (off + np.arange(n)) * 1000, pa.timestamp("us", tz="UTC")),
                pa.array(rng.random(n) < 0.5),
            ], schema=schema)
            w.write_batch(batch)
    tmp.rename(dest)
    return {"rows": rows, "bytes": dest.stat().st_size}


def load(rows: int):
    import pyarrow as pa

    return pa.ipc.open_file(pa.memory_map(str(data_path(rows)))).read_all()


# =================================================================================================
# Peers: each takes the Arrow table and returns the CHECK_KEYS numbers
# =================================================================================================
def peer_strata(table) -> dict:
    from strata.quality.suite import Suite

    suite = Suite("bench", suite_spec())

    def run():
        return suite.validate(table)

    def numbers(report) -> dict:
        r = {x.name: x for x in report.results}
        return {
            "rows": report.row_count,
            "id_nulls": r["not_null(id)"].unexpected_count,
            "id_duplicate_rows": r["unique(id)"].unexpected_count,
            "amount_bad": r["between(amount)"].unexpected_count,
            "amount_n": r["between(amount)"].element_count,
            "currency_bad": r["in_set(currency)"].unexpected_count,
            "email_bad": r["regex(email)"].unexpected_count,
            "amount_mean": r["mean_between(amount)"].observed_value,
            "amount_stdev": r["stdev_between(amount)"].observed_value,
            "discount_nulls": round(r["null_proportion_between(discount)"].observed_value * report.row_count),
            "pair_bad": r["column_pair_less(discount, amount)"].unexpected_count,
            "category_bad": r["string_length_between(category)"].unexpected_count,
            "distinct_users": r["distinct_count_between(user_id)"].observed_value,
        }

    return run, numbers


def peer_duckdb(table) -> dict:
    import duckdb

    con = duckdb.connect()
    con.register("t", table)

    def run():
        return con.execute(DUCKDB_SQL).fetchone()

    def numbers(row) -> dict:
        return dict(zip(CHECK_KEYS, row))

    return run, numbers


def peer_great_expectations(table):  # pragma: no cover - runs in its own venv, see PEER_PYTHON
    """Placeholder: Great Expectations will run from its own venv (PEER_PYTHON["great_expectations"])
    with the same 12 expectations on a pandas DataFrame of the table."""
    raise NotImplementedError("Great Expectations peer: not installed in this venv")


PEERS = {"strata": peer_strata, "duckdb": peer_duckdb, "great_expectations": peer_great_expectations}
DEFAULT_PEERS = ("strata", "duckdb")
PEER_PYTHON: dict[str, str] = {}  # peer -> interpreter (e.g. a GE venv); default: this one


def numpy_numbers(table) -> dict:
    """The reference numbers, computed with numpy (untimed)."""
    import numpy as np
    import pyarrow.compute as pc

    amount = table.column("amount").to_numpy()
    ids = table.column("id").to_numpy()
    _, counts = np.unique(ids, return_counts=True)
    discount = table.column("discount")
    d = discount.to_numpy(zero_copy_only=False)
    valid = ~np.isnan(d) & pc.is_valid(discount).to_numpy(zero_copy_only=False)
    lens = pc.utf8_length(table.column("category")).to_numpy()
    return {
        "rows": table.num_rows,
        "id_nulls": table.column("id").null_count,
        "id_duplicate_rows": int(counts[counts > 1].sum()),
        "amount_bad": int(((amount < 0) | (amount > 10000) | np.isnan(amount)).sum()),
        "amount_n": int(len(amount)),
        "currency_bad": int((~pc.is_in(table.column("currency"), value_set=__import__("pyarrow").array(CURRENCIES))
                             .to_numpy(zero_copy_only=False)).sum()),
        "email_bad": int((~pc.match_substring_regex(table.column("email"), EMAIL_RE).to_numpy(zero_copy_only=False)).sum()),
        "amount_mean": float(amount.mean()),
        "amount_stdev": float(amount.std(ddof=1)),
        "discount_nulls": discount.null_count,
        "pair_bad": int((valid & ~(np.nan_to_num(d) <= amount)).sum()),
        "category_bad": int(((lens < 3) | (lens > 20)).sum()),
        "distinct_users": int(len(np.unique(table.column("user_id").to_numpy()))),
    }


def compare(got: dict, want: dict) -> list[str]:
    problems = []
    for k in CHECK_KEYS:
        g, w = got.get(k), want.get(k)
        if isinstance(w, float) or isinstance(g, float):
            ok = g is not None and w is not None and abs(g - w) <= 1e-9 * max(1.0, abs(w))
        else:
            ok = g == w
        if not ok:
            problems.append(f"{k}: {g} != {w}")
    return problems


# =================================================================================================
# Worker and driver
# =================================================================================================
def w_gen(a) -> dict:
    t0 = time.perf_counter()
    info = generate(a.rows, data_path(a.rows))
    info["seconds"] = time.perf_counter() - t0
    return info


def w_reference(a) -> dict:
    return numpy_numbers(load(a.rows))


def w_peer(a) -> dict:
    table = load(a.rows)
    run, numbers = PEERS[a.peer](table)
    cpu: list[float] = []

    def timed_run():
        c0 = time.process_time()
        v = run()
        cpu.append(time.process_time() - c0)
        return v

    r = bench(timed_run, repeat=a.repeat, warmup=1, after=numbers)
    return {"best": r["best"], "median": r["median"], "times": r["times"], "cpu_best": min(cpu[1:]),
            "numbers": r["after"][-1], "all_numbers": r["after"]}


def call(a, worker: str, peer: str = "-") -> dict:
    py = PEER_PYTHON.get(peer, sys.executable)
    argv = [py, str(SCRIPT), "--worker", worker, "--peer", peer, "--rows", str(a.rows), "--repeat", str(a.repeat)]
    label = worker if peer == "-" else f"{worker}:{peer}"
    print(f"  .. {label:<24}", end="", flush=True)
    r = run_worker(argv, env=worker_env(), timeout=a.timeout)
    print(f" done in {r['worker_wall_s']:.1f}s (peak RSS {fmt_mib(r.get('peak_rss_kb'))})", flush=True)
    return r


def run(a) -> int:
    mi = machine_info()
    print("=" * 100)
    print(f"strata quality benchmark: 12 expectations, rows={a.rows:,} x 10 columns, best-of-{a.repeat} after 1 warm-up")
    import duckdb
    import pyarrow

    print_machine_info(mi, {"versions": f"duckdb {duckdb.__version__}  pyarrow {pyarrow.__version__}"})
    print("=" * 100)
    if not data_path(a.rows).exists():
        call(a, "gen")
    print("reference numbers (numpy):")
    want = call(a, "reference")
    res: dict[str, dict] = {}
    for peer in a.peers:
        try:
            res[peer] = call(a, "peer", peer)
        except Exception as e:  # keep going: the table shows the failure
            print(f" FAILED: {str(e).splitlines()[0]}")
            res[peer] = {"error": str(e)}
    print()
    rows, notes, all_ok = [], [], True
    s = result_field(res, "strata")
    for peer in a.peers:
        r = res[peer]
        if "error" in r:
            all_ok = False
            rows.append([peer, "ERROR", "-", "-", "-", "-"])
            continue
        bad = [p for nums in r["all_numbers"] for p in compare(nums, want)]
        if bad:
            all_ok = False
            notes.append(f"FAIL {peer}: " + "; ".join(sorted(set(bad))[:6]))
        ratio = s / r["best"] if s and peer != "strata" else None
        rows.append([peer, fmt_s(r["best"]), fmt_s(r["cpu_best"]), fmt_ratio(ratio) if peer != "strata" else "1.00",
                     fmt_mib(r.get("peak_rss_kb")), "ok" if not bad else "MISMATCH"])
    headers = ["engine", "best time", "CPU s (best)", "strata/peer time (lower=better)", "peak RSS", "numbers vs numpy"]
    print_table(headers, rows)
    if s and "duckdb" in res and "best" in res["duckdb"]:
        ratio = s / res["duckdb"]["best"]
        print(f"\nstrata/duckdb time ratio: {ratio:.2f}  (target <= 1.00: {'MET' if ratio <= 1.0 else 'NOT MET'})")
    print("times: wall clock of the whole validation (strata: Suite.validate on the Arrow table; duckdb: the one query).")
    print("peak RSS: each engine in its own subprocess; includes the interpreter and the memory-mapped data it touched.")
    for n in notes:
        print(" - " + n)
    save_results("quality", a.rows, {"machine": mi, "rows": a.rows, "results": res, "reference": want},
                 markdown_table(headers, rows) + "\n" + "\n".join("- " + n for n in notes) + "\n")
    return 0 if all_ok else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--quick", action="store_true", help="1,000,000 rows")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (best-of), after one warm-up run")
    ap.add_argument("--peers", default=",".join(DEFAULT_PEERS), help="comma list of: " + ", ".join(PEERS))
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.quick:
        a.rows = 1_000_000
    a.peers = [p.strip() for p in a.peers.split(",") if p.strip()]
    if a.worker:
        sys.path.insert(0, str(REPO_DIR / "python"))
        fn = {"gen": w_gen, "reference": w_reference, "peer": w_peer}[a.worker]
        emit_result(fn(a))
        sys.stdout.flush()
        os._exit(0)
    unknown = [p for p in a.peers if p not in PEERS]
    if unknown:
        ap.error(f"unknown peer(s) {unknown}; choose from {', '.join(PEERS)}")
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
