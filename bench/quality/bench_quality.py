#!/usr/bin/env python3
"""Data-quality benchmark: a 12-expectation suite on N rows x 10 columns, strata vs DuckDB and
Great Expectations (pandas).

    bench/quality/setup-ge                                       # once: GE in .venv-ge (optional)
    .venv/bin/python bench/quality/bench_quality.py --quick     # 1M rows
    .venv/bin/python bench/quality/bench_quality.py             # 10M rows (default)
    .venv/bin/python bench/quality/bench_quality.py --rows 3000000 --peers duckdb
    .venv/bin/python bench/quality/bench_quality.py --peers ge --ge-repeat 1

What is measured: validating an in-memory Arrow table (memory-mapped from a cached IPC file, so
strata and DuckDB read the same buffers without a copy). strata runs `Suite.validate(table)` (one
multi-threaded pass computing every expectation); DuckDB runs one SQL query computing the
equivalent aggregates over the same Arrow table (its replacement scan, all threads); Great
Expectations 1.x (peer `ge`, from its own virtualenv .venv-ge, see bench/quality/setup-ge) runs
`batch.validate(suite)` of the same 12 expectations (ge_mapping()) on a pandas DataFrame made from
the same Arrow file (`table.to_pandas()` in the worker, untimed: GE validates pandas data, so
loading it is setup, like mapping the file for the others). strata is always run (the baseline);
--peers picks the others (default duckdb,ge when .venv-ge exists, else duckdb). The suite:

    not_null(id), unique(id), between(amount, 0..10000, mostly 0.99), in_set(currency),
    regex(email), row_count_between, mean_between(amount), stdev_between(amount),
    null_proportion_between(discount), column_pair_less(discount <= amount),
    string_length_between(category, 3..20), distinct_count_between(user_id)

Every peer runs in its own fresh subprocess (peak RSS = that child's ru_maxrss: interpreter,
libraries and the mapped data included), runs once untimed, then best-of-N. After every run the
numbers every engine reports (unexpected counts, mean, stdev, distinct count, ...) are compared
with numpy's, and GE's per-expectation outcome (success, unexpected_count, observed value) with
strata's; a mismatch is printed as FAIL and the script exits 1.

Adding a peer: write `peer_<name>(table)` returning `(run, numbers)` (numbers(result) -> the
CHECK_KEYS dict), add it to PEERS, and (if it needs another interpreter) give its python in
PEER_PYTHON.
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
            "expectations": [{"name": x.name, "success": bool(x.success), "unexpected_count": x.unexpected_count,
                              "observed": x.observed_value if x.unexpected_count is None else None}
                             for x in report.results],
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


# --- Great Expectations ---------------------------------------------------------------------------
GE_PYTHON = REPO_DIR / ".venv-ge" / "bin" / "python"  # made by bench/quality/setup-ge


def ge_mapping() -> list[dict]:
    """Each strata expectation of suite_spec() as its Great Expectations 1.x equivalent, with the
    same arguments (taken from the spec, `mostly` included): {"name" (strata's result name),
    "ge" (the gx.expectations class), "kwargs", "note" (how it differs, when it does)}."""
    out = []
    for e in suite_spec():
        t, col = e["type"], e.get("column")
        rng = {"min_value": e.get("min"), "max_value": e.get("max")}
        note = ""
        if t == "not_null":
            name, ge, kw = f"not_null({col})", "ExpectColumnValuesToNotBeNull", {"column": col}
        elif t == "unique":
            name, ge, kw = f"unique({col})", "ExpectColumnValuesToBeUnique", {"column": col}
            note = "both count every row of a repeated value (GE pandas: duplicated(keep=False))"
        elif t == "between":
            name, ge, kw = f"between({col})", "ExpectColumnValuesToBeBetween", {"column": col, **rng}
            note = "NaN: strata counts it unexpected, GE/pandas treats it as missing (amount has no NaN)"
        elif t == "in_set":
            name, ge, kw = f"in_set({col})", "ExpectColumnValuesToBeInSet", {"column": col, "value_set": list(e["values"])}
        elif t == "regex":
            name, ge, kw = f"regex({col})", "ExpectColumnValuesToMatchRegex", {"column": col, "regex": e["pattern"]}
            note = "both search for a match (RE2 / pandas str.contains); the pattern is anchored"
        elif t == "row_count_between":
            name, ge, kw = "row_count_between()", "ExpectTableRowCountToBeBetween", rng
        elif t == "mean_between":
            name, ge, kw = f"mean_between({col})", "ExpectColumnMeanToBeBetween", {"column": col, **rng}
        elif t == "stdev_between":
            name, ge, kw = f"stdev_between({col})", "ExpectColumnStdevToBeBetween", {"column": col, **rng}
            note = "both the sample stdev (ddof=1)"
        elif t == "null_proportion_between":
            # GE has no null-proportion expectation; the non-null proportion in [1-max, 1-min] is
            # the same condition (1 - 0.1 == 0.9 exactly in binary floating point).
            lo, hi = e.get("min"), e.get("max")
            name, ge = f"null_proportion_between({col})", "ExpectColumnProportionOfNonNullValuesToBeBetween"
            kw = {"column": col, "min_value": None if hi is None else 1 - hi, "max_value": None if lo is None else 1 - lo}
            note = ("no null-proportion expectation in GE: non-null proportion >= 0.9 instead of null proportion "
                    "<= 0.1 (observed value is 1 - strata's; GE/pandas also counts NaN as null, discount has none)")
        elif t == "column_pair_less":
            a, b = e["column_a"], e["column_b"]
            name, ge = f"column_pair_less({a}, {b})", "ExpectColumnPairValuesAToBeGreaterThanB"
            kw = {"column_A": b, "column_B": a, "or_equal": bool(e.get("or_equal", False)),
                  "ignore_row_if": "either_value_is_missing"}
            note = (f"columns swapped ({a} <= {b} as {b} >= {a}); ignore_row_if=either_value_is_missing to skip rows "
                    "with a null like strata (GE's default, both_values_are_missing, would count the ~5% null "
                    "discounts as unexpected)")
        elif t == "string_length_between":
            name, ge, kw = f"string_length_between({col})", "ExpectColumnValueLengthsToBeBetween", {"column": col, **rng}
        elif t == "distinct_count_between":
            name, ge, kw = f"distinct_count_between({col})", "ExpectColumnUniqueValueCountToBeBetween", {"column": col, **rng}
            note = "GE's 'unique value count' is the number of distinct non-null values"
        else:
            raise ValueError(f"no Great Expectations equivalent for {t}")
        if "mostly" in e:
            kw["mostly"] = e["mostly"]
        out.append({"name": name, "ge": ge, "kwargs": kw, "note": note})
    return out


def _plain(v):
    """numpy scalars to Python (for JSON)."""
    return v.item() if hasattr(v, "item") and not isinstance(v, (list, dict)) else v


def peer_ge(table):
    """Great Expectations 1.x on pandas, in .venv-ge's interpreter (PEER_PYTHON): an ephemeral
    context, a pandas data source with a dataframe asset and a whole-dataframe batch definition,
    the 12 expectations of ge_mapping() in an ExpectationSuite; the timed run is
    `batch.validate(suite)` with GE's default result format (SUMMARY: counts plus up to 20
    unexpected values, like strata's few samples). The Arrow -> pandas conversion is untimed."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # no usage statistics over the network
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    df = table.to_pandas()  # untimed: GE validates a pandas DataFrame
    del table
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars on stderr
    batch_def = (context.data_sources.add_pandas("bench")
                 .add_dataframe_asset("transactions")
                 .add_batch_definition_whole_dataframe("all"))
    batch = batch_def.get_batch(batch_parameters={"dataframe": df})
    mapping = ge_mapping()
    suite = context.suites.add(gx.ExpectationSuite(name="bench"))
    by_id = {}  # GE's results are not in suite order: match them by the expectation's id
    for m in mapping:
        by_id[suite.add_expectation(getattr(gx.expectations, m["ge"])(**m["kwargs"])).id] = m["name"]

    def run():
        return batch.validate(suite)

    def numbers(res) -> dict:
        r = {}
        for x in res.results:
            name = by_id[x.expectation_config.id]
            if x.exception_info.get("raised_exception"):
                raise RuntimeError(f"GE {name}: {x.exception_info.get('exception_message')}")
            r[name] = (bool(x.success), {k: _plain(v) for k, v in x.result.items()})
        rows = r["row_count_between()"][1]["observed_value"]
        nonnull = r["null_proportion_between(discount)"][1]["observed_value"]
        amount = r["between(amount)"][1]
        exps = []
        for m in mapping:
            ok, d = r[m["name"]]
            obs = d.get("observed_value") if "unexpected_count" not in d else None
            if m["name"].startswith("null_proportion_between"):
                obs = 1 - obs  # as strata reports it: the null proportion
            exps.append({"name": m["name"], "success": ok, "unexpected_count": d.get("unexpected_count"),
                         "observed": obs})
        return {
            "rows": rows,
            "id_nulls": r["not_null(id)"][1]["unexpected_count"],
            "id_duplicate_rows": r["unique(id)"][1]["unexpected_count"],
            "amount_bad": amount["unexpected_count"],
            "amount_n": amount["element_count"] - amount.get("missing_count", 0),
            "currency_bad": r["in_set(currency)"][1]["unexpected_count"],
            "email_bad": r["regex(email)"][1]["unexpected_count"],
            "amount_mean": float(r["mean_between(amount)"][1]["observed_value"]),
            "amount_stdev": float(r["stdev_between(amount)"][1]["observed_value"]),
            "discount_nulls": round((1 - nonnull) * rows),
            "pair_bad": r["column_pair_less(discount, amount)"][1]["unexpected_count"],
            "category_bad": r["string_length_between(category)"][1]["unexpected_count"],
            "distinct_users": r["distinct_count_between(user_id)"][1]["observed_value"],
            "expectations": exps,
        }

    return run, numbers


def peer_versions(peer: str) -> dict:
    """The versions a peer's worker runs with (printed by the driver)."""
    if peer == "ge":
        import great_expectations
        import pandas
        import pyarrow

        return {"great_expectations": great_expectations.__version__, "pandas": pandas.__version__,
                "pyarrow": pyarrow.__version__, "python": sys.version.split()[0]}
    return {}


PEERS = {"strata": peer_strata, "duckdb": peer_duckdb, "ge": peer_ge}
PEER_ALIASES = {"great_expectations": "ge", "gx": "ge"}
PEER_PYTHON: dict[str, str] = {"ge": str(GE_PYTHON)}  # peer -> interpreter; default: this one


def default_peers() -> tuple[list[str], str]:
    """The peers run with strata when --peers is not given, and a note when GE is left out."""
    if GE_PYTHON.exists():
        return ["duckdb", "ge"], ""
    return ["duckdb"], ("Great Expectations peer skipped: .venv-ge not found; run bench/quality/setup-ge "
                        "to install it (its own virtualenv), then rerun")


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


def _fmt_obs(v) -> str:
    return f"{v:.12g}" if isinstance(v, float) else repr(v)


def compare_expectations(got: list[dict], want: list[dict], peer: str) -> list[str]:
    """Per-expectation check of a peer against strata: same success, same unexpected_count, same
    observed value for the aggregates (rel 1e-9)."""
    problems = []
    g = {x["name"]: x for x in got}
    for w in want:
        x = g.get(w["name"])
        if x is None:
            problems.append(f"{w['name']}: missing from {peer}")
            continue
        diffs = []
        if x["success"] != w["success"]:
            diffs.append(f"success strata={w['success']} {peer}={x['success']}")
        if x["unexpected_count"] != w["unexpected_count"]:
            diffs.append(f"unexpected_count strata={w['unexpected_count']} {peer}={x['unexpected_count']}")
        wo, xo = w.get("observed"), x.get("observed")
        if isinstance(wo, float) or isinstance(xo, float):
            if wo is None or xo is None or abs(xo - wo) > 1e-9 * max(1.0, abs(wo)):
                diffs.append(f"observed strata={wo!r} {peer}={xo!r}")
        elif wo != xo:
            diffs.append(f"observed strata={wo!r} {peer}={xo!r}")
        if diffs:
            problems.append(f"{w['name']}: " + ", ".join(diffs))
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
    t0 = time.perf_counter()
    run, numbers = PEERS[a.peer](table)  # untimed setup (GE: its import, Arrow -> pandas, the context)
    setup_s = time.perf_counter() - t0
    del table
    cpu: list[float] = []

    def timed_run():
        c0 = time.process_time()
        v = run()
        cpu.append(time.process_time() - c0)
        return v

    t0 = time.perf_counter()
    r = bench(timed_run, repeat=a.repeat, warmup=1, after=numbers)
    return {"best": r["best"], "median": r["median"], "times": r["times"], "cpu_best": min(cpu[1:]),
            "cpu_times": cpu[1:], "setup_s": setup_s, "bench_s": time.perf_counter() - t0,
            "versions": peer_versions(a.peer), "numbers": r["after"][-1], "all_numbers": r["after"]}


def peer_repeat(a, peer: str) -> int:
    return a.ge_repeat if peer == "ge" and a.ge_repeat else a.repeat


def call(a, worker: str, peer: str = "-") -> dict:
    py = PEER_PYTHON.get(peer, sys.executable)
    argv = [py, str(SCRIPT), "--worker", worker, "--peer", peer, "--rows", str(a.rows),
            "--repeat", str(peer_repeat(a, peer))]
    label = worker if peer == "-" else f"{worker}:{peer}"
    print(f"  .. {label:<24}", end="", flush=True)
    r = run_worker(argv, env=worker_env(), timeout=a.timeout)
    print(f" done in {r['worker_wall_s']:.1f}s (peak RSS {fmt_mib(r.get('peak_rss_kb'))})", flush=True)
    return r


def run(a) -> int:
    mi = machine_info()
    engines = ["strata"] + [p for p in a.peers if p != "strata"]
    reps = ", ".join(f"{p} best-of-{peer_repeat(a, p)}" for p in engines if peer_repeat(a, p) != a.repeat)
    print("=" * 100)
    print(f"strata quality benchmark: 12 expectations, rows={a.rows:,} x 10 columns, best-of-{a.repeat} after 1 warm-up"
          + (f" ({reps})" if reps else ""))
    import duckdb
    import pyarrow

    print_machine_info(mi, {"versions": f"duckdb {duckdb.__version__}  pyarrow {pyarrow.__version__}"})
    print("=" * 100)
    if a.peers_note:
        print("note: " + a.peers_note)
    if not data_path(a.rows).exists():
        call(a, "gen")
    print("reference numbers (numpy):")
    want = call(a, "reference")
    res: dict[str, dict] = {}
    for peer in engines:
        try:
            res[peer] = call(a, "peer", peer)
        except Exception as e:  # keep going: the table shows the failure
            print(f" FAILED: {str(e).splitlines()[0]}")
            res[peer] = {"error": str(e)}
    for peer in engines:
        v = res[peer].get("versions")
        if v:
            print(f"{peer} worker: " + "  ".join(f"{k} {x}" for k, x in v.items()))
    print()
    rows, notes, all_ok = [], [], True
    s = result_field(res, "strata")
    s_cpu = result_field(res, "strata", "cpu_best")
    for peer in engines:
        r = res[peer]
        if "error" in r:
            all_ok = False
            rows.append([peer, "ERROR", "-", "-", "-", "-", "-"])
            notes.append(f"FAIL {peer}: " + " | ".join(r["error"].strip().splitlines()[-3:]))
            continue
        bad = [p for nums in r["all_numbers"] for p in compare(nums, want)]
        if bad:
            all_ok = False
            notes.append(f"FAIL {peer}: " + "; ".join(sorted(set(bad))[:6]))
        ratio = s / r["best"] if s and peer != "strata" else None
        speedup = r["best"] / s if s and peer != "strata" else None
        rows.append([peer, fmt_s(r["best"]), fmt_s(r["cpu_best"]), fmt_ratio(ratio) if peer != "strata" else "1.00",
                     (f"{speedup:.1f}x" if speedup is not None else "-") if peer != "strata" else "1.0x",
                     fmt_mib(r.get("peak_rss_kb")), "ok" if not bad else "MISMATCH"])
    headers = ["engine", "best time", "CPU s (best)", "strata/peer time (lower=better)", "speedup peer/strata",
               "peak RSS", "numbers vs numpy"]
    print_table(headers, rows)

    # Per-expectation agreement of GE with strata: success and unexpected_count (observed value
    # for the aggregates), every GE run against strata's last.
    md_extra = ""
    if "ge" in res and "error" not in res["ge"] and "error" not in res.get("strata", {"error": 1}):
        st = res["strata"]["numbers"]["expectations"]
        ge_runs = [n["expectations"] for n in res["ge"]["all_numbers"]]
        probs = sorted({p for g in ge_runs for p in compare_expectations(g, st, "ge")})
        ge_last = {x["name"]: x for x in ge_runs[-1]}
        mp = {m["name"]: m for m in ge_mapping()}
        erows = []
        for x in st:
            g = ge_last.get(x["name"], {})
            val = ((lambda d: f"unexpected={d.get('unexpected_count')}") if x["unexpected_count"] is not None
                   else (lambda d: f"observed={_fmt_obs(d.get('observed'))}"))
            agree = not any(p.startswith(x["name"] + ":") for p in probs)
            erows.append([x["name"], mp[x["name"]]["ge"], "PASS" if x["success"] else "FAIL", val(x),
                          "PASS" if g.get("success") else "FAIL", val(g), "yes" if agree else "NO"])
        eh = ["strata expectation", "GE expectation", "strata", "strata value", "GE", "GE value", "agree"]
        print("\nper expectation, strata vs Great Expectations (success, unexpected_count / observed value):")
        print_table(eh, erows)
        n_agree = sum(1 for r_ in erows if r_[-1] == "yes")
        print(f"agreement: {n_agree}/{len(erows)} expectations (success and counts, all {len(ge_runs)} GE runs)")
        for m in ge_mapping():
            if m["note"]:
                print(f"  - {m['name']} -> {m['ge']}: {m['note']}")
        md_extra = "\n" + markdown_table(eh, erows) + "\n"
        if probs:
            all_ok = False
            for p in probs:
                notes.append("FAIL ge vs strata: " + p)
    if s and "duckdb" in res and "best" in res["duckdb"]:
        ratio = s / res["duckdb"]["best"]
        print(f"\nstrata/duckdb time ratio: {ratio:.2f}  (target <= 1.00: {'MET' if ratio <= 1.0 else 'NOT MET'})")
    if s and "ge" in res and "best" in res["ge"]:
        g = res["ge"]
        sp = g["best"] / s
        cpu = f"; CPU time GE/strata {g['cpu_best'] / s_cpu:.1f}x" if s_cpu else ""
        print(f"strata/GE time ratio: {s / g['best']:.4f}  speedup GE/strata: {sp:.1f}x  "
              f"(target >= 20x: {'MET' if sp >= 20 else 'NOT MET'}){cpu}")
        print(f"GE untimed setup in its worker (import great_expectations, Arrow -> pandas, context, suite): "
              f"{g['setup_s']:.1f}s")
    print("times: wall clock of the whole validation (strata: Suite.validate on the Arrow table; duckdb: the one query;"
          " GE: batch.validate(suite) on the pandas DataFrame, the DataFrame built untimed).")
    print("peak RSS: each engine in its own subprocess; includes the interpreter and the memory-mapped data it touched"
          " (GE: plus the pandas copy of the data).")
    for n in notes:
        print(" - " + n)
    save_results("quality", a.rows, {"machine": mi, "rows": a.rows, "results": res, "reference": want,
                                     "ge_mapping": ge_mapping()},
                 markdown_table(headers, rows) + "\n" + md_extra + "\n".join("- " + n for n in notes) + "\n")
    return 0 if all_ok else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--quick", action="store_true", help="1,000,000 rows")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (best-of), after one warm-up run")
    ap.add_argument("--ge-repeat", type=int, default=None,
                    help="timed runs for Great Expectations (default: --repeat; 1 keeps 10M rows short)")
    ap.add_argument("--peers", default=None,
                    help="comma list of peers run besides strata: " + ", ".join(p for p in PEERS if p != "strata")
                    + " (default: duckdb,ge when .venv-ge exists, else duckdb)")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.quick:
        a.rows = 1_000_000
    if a.worker:
        sys.path.insert(0, str(REPO_DIR / "python"))
        fn = {"gen": w_gen, "reference": w_reference, "peer": w_peer}[a.worker]
        emit_result(fn(a))
        sys.stdout.flush()
        os._exit(0)
    a.peers_note = ""
    if a.peers is None:
        a.peers, a.peers_note = default_peers()
    else:
        a.peers = [PEER_ALIASES.get(p.strip(), p.strip()) for p in a.peers.split(",") if p.strip()]
    a.peers = list(dict.fromkeys(a.peers))
    unknown = [p for p in a.peers if p not in PEERS]
    if unknown:
        ap.error(f"unknown peer(s) {unknown}; choose from {', '.join(PEERS)}")
    if "ge" in a.peers and not GE_PYTHON.exists():
        ap.error(f"{GE_PYTHON} not found: run bench/quality/setup-ge first")
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
