"""Expectation suites (strata.quality): every expectation type checked against a brute-force
Python model on random data (nulls, NaN, -0.0, unicode, empty tables, all-null columns, many
small batches so that uniqueness and order are checked across batch boundaries), suite parsing
errors (file and line), validation of a strata table at a version, and the `validate` command."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import re
import statistics
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strata
from strata.errors import InvalidArgumentError
from strata.quality import cli_validate
from strata.quality.suite import ExpectationResult, Report, Suite, expectation_types

UTC = dt.timezone.utc
BASE_TS = dt.datetime(2026, 1, 1, tzinfo=UTC)
NOW = dt.datetime(2026, 1, 4, 12, tzinfo=UTC)
WORDS = ["a", "ab", "abc", "é", "日本語", "", "a@b", "x@y.z", "zz", "ÄÖü", "emoji🙂", "b@@c", "  "]


# --------------------------------------------------------------------------------------------
# random data
# --------------------------------------------------------------------------------------------
def gen_table(seed: int, n: int | None = None) -> pa.Table:
    rng = random.Random(seed)
    if n is None:
        n = rng.choice([0, 1, 2, 7, 40, 150, 400])
    p_null = rng.choice([0.0, 0.1, 0.3])

    def maybe(v):
        return None if rng.random() < p_null else v

    def fval():
        r = rng.random()
        if r < 0.05:
            return float("nan")
        if r < 0.1:
            return rng.choice([0.0, -0.0, 10.0, 2.5])
        return round(rng.uniform(-5, 15), rng.choice([0, 2, 6]))

    inc, cur = [], 0
    for _ in range(n):
        cur += rng.choice([0, 1, 1, 2, 3]) if rng.random() > 0.05 else -rng.randint(1, 4)
        inc.append(maybe(cur))
    cols = {
        "i": pa.array([maybe(rng.randint(-3, 20)) for _ in range(n)], pa.int64()),
        "j": pa.array([maybe(rng.randint(-3, 40)) for _ in range(n)], pa.int32()),
        "f": pa.array([maybe(fval()) for _ in range(n)], pa.float64()),
        "s": pa.array([maybe(rng.choice(WORDS)) for _ in range(n)], pa.string()),
        "ts": pa.array([maybe(BASE_TS + dt.timedelta(minutes=rng.randint(0, 5000))) for _ in range(n)],
                       pa.timestamp("us", tz="UTC")),
        "inc": pa.array(inc, pa.int64()),
        "allnull": pa.array([None] * n, pa.int64()),
        "u": pa.array([maybe(rng.randint(0, 300)) for _ in range(n)], pa.uint16()),
        "d": pa.array([maybe(rng.choice(["x", "y", "é"])) for _ in range(n)], pa.string()).dictionary_encode(),
    }
    t = pa.table(cols)
    # many batches of random sizes: streaming state must carry across batch boundaries
    batches, off = [], 0
    while off < n:
        k = rng.randint(1, 60)
        batches.append(t.slice(off, k).to_batches()[0] if t.slice(off, k).num_rows else None)
        off += k
    batches = [b for b in batches if b is not None]
    return pa.Table.from_batches(batches, schema=t.schema) if batches else t


def col(t: pa.Table, name: str) -> list:
    return t.column(name).to_pylist()


# --------------------------------------------------------------------------------------------
# the brute-force model
# --------------------------------------------------------------------------------------------
def is_nan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)


def key(v):
    """Value identity as the engine counts it: NaN equals NaN, -0.0 equals 0.0."""
    if is_nan(v):
        return ("nan",)
    if isinstance(v, float) and v == 0:
        return 0.0
    return v


def row_result(values_fail: list[tuple], mostly: float = 1.0) -> dict:
    """values_fail: (value, failed) for each counted row, in data order."""
    element = len(values_fail)
    bad = [v for v, failed in values_fail if failed]
    passed = (element - len(bad)) / element if element else None
    ok = element == 0 or not bad or passed >= mostly - 1e-12
    return {"element_count": element, "unexpected_count": len(bad), "success": ok, "observed": passed,
            "failing": bad, "ordered": True}


def range_ok(x, lo, hi, smin=False, smax=False) -> bool:
    if x is None or is_nan(x):
        return False
    if lo is not None and not (x > lo if smin else x >= lo):
        return False
    if hi is not None and not (x < hi if smax else x <= hi):
        return False
    return True


def agg(observed, ok) -> dict:
    return {"observed": observed, "success": ok, "element_count": None, "unexpected_count": None}


def parse_ts(s: str) -> dt.datetime:
    x = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return x if x.tzinfo else x.replace(tzinfo=UTC)


def ref(spec: dict, t: pa.Table, ref_values: set) -> dict:
    e = dict(spec)
    typ = e.pop("type")
    mostly = e.get("mostly", 1.0)
    c = e.get("column")
    vals = col(t, c) if c and c in t.column_names else None
    nonnull = [v for v in vals if v is not None] if vals is not None else None
    lo, hi = e.get("min"), e.get("max")
    smin, smax = e.get("strict_min", False), e.get("strict_max", False)
    if typ == "not_null":
        return row_result([(v, v is None) for v in vals], mostly)
    if typ in ("unique", "compound_unique"):
        if typ == "unique":
            rows = [(v, key(v)) for v in nonnull]
        else:
            cs = [col(t, x) for x in e["columns"]]
            rows = [(dict(zip(e["columns"], r)), tuple(key(x) for x in r)) for r in zip(*cs) if None not in r]
        counts = Counter(k for _, k in rows)
        res = row_result([(v, counts[k] > 1) for v, k in rows], mostly)
        res["ordered"] = False
        return res
    if typ == "between":
        if c == "ts":
            lo = parse_ts(lo) if lo else None
            hi = parse_ts(hi) if hi else None
        return row_result([(v, not range_ok(v, lo, hi, smin, smax)) for v in nonnull], mostly)
    if typ in ("in_set", "not_in_set"):
        allowed = set(e["values"])
        return row_result([(v, (v in allowed) == (typ == "not_in_set")) for v in nonnull], mostly)
    if typ in ("regex", "not_regex"):
        pat = re.compile(e["pattern"])
        return row_result([(v, (pat.search(v) is None) == (typ == "regex")) for v in nonnull], mostly)
    if typ == "string_length_between":
        return row_result([(v, not range_ok(len(v), lo, hi)) for v in nonnull], mostly)
    if typ in ("increasing", "decreasing"):
        out, prev = [], None
        for v in nonnull:
            if is_nan(v):
                out.append((v, True))
                continue
            if prev is None:
                failed = False
            elif typ == "increasing":
                failed = not v > prev if e.get("strict") else v < prev
            else:
                failed = not v < prev if e.get("strict") else v > prev
            out.append((v, failed))
            prev = v
        return row_result(out, mostly)
    if typ in ("column_pair_less", "column_pair_equal"):
        a, b = col(t, e["column_a"]), col(t, e["column_b"])
        out = []
        for x, y in zip(a, b):
            if x is None or y is None:
                continue
            if typ == "column_pair_equal":
                ok = x == y
            else:
                ok = x <= y if e.get("or_equal") else x < y
            out.append(({e["column_a"]: x, e["column_b"]: y}, not ok))
        return row_result(out, mostly)
    if typ == "multicolumn_sum_equal":
        cs = [col(t, x) for x in e["columns"]]
        out = [(dict(zip(e["columns"], r)), sum(r) != e["total"]) for r in zip(*cs) if None not in r]
        return row_result(out, mostly)
    if typ == "expression":
        model = EXPRESSIONS[e["expr"]]
        out = []
        for row in t.to_pylist():
            v = model(row)
            if v is not None:
                out.append(({k: row[k] for k in EXPR_COLUMNS[e["expr"]]}, not v))
        return row_result(out, mostly)
    if typ == "exists_in":
        return row_result([(v, v not in ref_values) for v in nonnull], mostly)
    if typ == "row_count_between":
        return agg(t.num_rows, range_ok(t.num_rows, lo, hi))
    if typ == "column_count_between":
        return agg(t.num_columns, range_ok(t.num_columns, lo, hi))
    if typ == "column_exists":
        return agg(c in t.column_names, c in t.column_names)
    if typ == "values_of_type":
        return agg(None, str(t.schema.field(c).type) == e["value_type"])
    if typ == "schema_equals":
        ok = {f.name: str(f.type) for f in t.schema} == e["columns"]
        return agg(None, ok)
    if typ in ("mean_between", "stdev_between", "sum_between", "min_between", "max_between", "median_between"):
        if not nonnull or (typ == "stdev_between" and len(nonnull) < 2):
            return agg(None, False)
        nan = any(is_nan(v) for v in nonnull)
        if typ == "mean_between":
            x = math.nan if nan else sum(nonnull) / len(nonnull)
        elif typ == "stdev_between":
            x = math.nan if nan else statistics.stdev([float(v) for v in nonnull])
        elif typ == "sum_between":
            x = math.nan if nan else sum(nonnull)
        elif typ == "median_between":
            x = math.nan if nan else float(np.median(np.array(nonnull, dtype=float)))
        else:
            x = math.nan if nan else (min(nonnull) if typ == "min_between" else max(nonnull))
        return agg(x, range_ok(x, lo, hi, smin, smax))
    if typ == "quantiles_between":
        if not nonnull:
            return agg(None, False)
        arr = np.array(nonnull, dtype=float)
        qs = [math.nan if np.isnan(arr).any() else float(np.quantile(arr, q)) for q in e["quantiles"]]
        ok = all(range_ok(x, r[0], r[1]) for x, r in zip(qs, e["ranges"]))
        return agg({"quantiles": [float(q) for q in e["quantiles"]], "values": qs}, ok)
    if typ == "distinct_count_between":
        x = len({key(v) for v in nonnull})
        return agg(x, range_ok(x, lo, hi))
    if typ == "unique_proportion_between":
        if not nonnull:
            return agg(None, False)
        x = len({key(v) for v in nonnull}) / len(nonnull)
        return agg(x, range_ok(x, lo, hi))
    if typ == "null_proportion_between":
        if not vals:
            return agg(None, False)
        x = (len(vals) - len(nonnull)) / len(vals)
        return agg(x, range_ok(x, lo, hi))
    if typ == "most_common_value_in_set":
        if not nonnull:
            return agg(None, False)
        counts = Counter(key(v) for v in nonnull)
        best = max(counts.values())
        modes = sorted(k for k, n in counts.items() if n == best)
        inset = [m in set(e["values"]) for m in modes]
        ok = any(inset) if e.get("ties_okay") else all(inset)
        return agg(modes[:10], ok)
    if typ == "freshness":
        if not nonnull:
            return agg(None, False)
        age = (NOW - max(nonnull)).total_seconds()
        return agg(age, age <= {"3d": 3 * 86400, "1h": 3600}[e["max_age"]])
    raise AssertionError(f"no model for {typ}")


def expr_and(a, b):
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def expr_or(a, b):
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


EXPRESSIONS = {
    "i * 2 <= j": lambda r: None if r["i"] is None or r["j"] is None else r["i"] * 2 <= r["j"],
    "i > 3 OR j IS NULL": lambda r: expr_or(None if r["i"] is None else r["i"] > 3, r["j"] is None),
    "s LIKE 'a%' AND i >= 0": lambda r: expr_and(None if r["s"] is None else r["s"].startswith("a"),
                                                 None if r["i"] is None else r["i"] >= 0),
}
EXPR_COLUMNS = {"i * 2 <= j": ["i", "j"], "i > 3 OR j IS NULL": ["i", "j"], "s LIKE 'a%' AND i >= 0": ["s", "i"]}


def specs(ref_path: str) -> list[dict]:
    schema = {"i": "int64", "j": "int32", "f": "double", "s": "string", "ts": "timestamp[us, tz=UTC]", "inc": "int64",
              "allnull": "int64", "u": "uint16", "d": "dictionary<values=string, indices=int32, ordered=0>"}
    return [
        {"type": "not_null", "column": "i"},
        {"type": "not_null", "column": "i", "mostly": 0.8},
        {"type": "not_null", "column": "allnull"},
        {"type": "unique", "column": "i"},
        {"type": "unique", "column": "s"},
        {"type": "unique", "column": "f"},
        {"type": "unique", "column": "ts"},
        {"type": "unique", "column": "d"},
        {"type": "unique", "column": "allnull"},
        {"type": "compound_unique", "columns": ["i", "s"]},
        {"type": "compound_unique", "columns": ["f", "j", "d"]},
        {"type": "between", "column": "i", "min": 0, "max": 10},
        {"type": "between", "column": "i", "min": 0, "max": 10, "mostly": 0.5},
        {"type": "between", "column": "i", "min": 0.5, "max": 9.5, "strict_min": True},
        {"type": "between", "column": "f", "min": 0, "max": 10, "strict_min": True},
        {"type": "between", "column": "f", "max": 2.5, "strict_max": True},
        {"type": "between", "column": "u", "min": 10, "max": 200},
        {"type": "between", "column": "allnull", "min": 0},
        {"type": "between", "column": "ts", "min": "2026-01-02T00:00:00Z", "max": "2026-01-04T00:00:00Z"},
        {"type": "in_set", "column": "s", "values": ["a", "é", "日本語", ""]},
        {"type": "in_set", "column": "i", "values": [1, 2, 3, 4, 5], "mostly": 0.3},
        {"type": "in_set", "column": "d", "values": ["x", "y"]},
        {"type": "not_in_set", "column": "s", "values": ["", "zz"]},
        {"type": "not_in_set", "column": "j", "values": [0, 1, 2]},
        {"type": "regex", "column": "s", "pattern": "^[^@]+@[^@]+$"},
        {"type": "not_regex", "column": "s", "pattern": "b"},
        {"type": "regex", "column": "s", "pattern": "^.{2}$"},
        {"type": "string_length_between", "column": "s", "min": 1, "max": 3},
        {"type": "string_length_between", "column": "s", "max": 0},
        {"type": "values_of_type", "column": "i", "value_type": "int64"},
        {"type": "values_of_type", "column": "s", "value_type": "int64"},
        {"type": "increasing", "column": "inc"},
        {"type": "increasing", "column": "inc", "strict": True},
        {"type": "decreasing", "column": "f"},
        {"type": "increasing", "column": "ts", "mostly": 0.4},
        {"type": "row_count_between", "min": 1, "max": 100},
        {"type": "column_count_between", "min": 9},
        {"type": "schema_equals", "columns": schema},
        {"type": "column_exists", "column": "nope"},
        {"type": "mean_between", "column": "i", "min": 5, "max": 9},
        {"type": "mean_between", "column": "f", "min": 0},
        {"type": "mean_between", "column": "allnull", "min": 0},
        {"type": "median_between", "column": "i", "min": 6, "max": 12},
        {"type": "median_between", "column": "f", "min": 0, "max": 10},
        {"type": "stdev_between", "column": "j", "min": 8, "max": 14},
        {"type": "stdev_between", "column": "f", "min": 0},
        {"type": "quantiles_between", "column": "j", "quantiles": [0.1, 0.5, 0.9],
         "ranges": [[None, 5], [10, 30], [20, None]]},
        {"type": "sum_between", "column": "i", "min": 0, "max": 2000},
        {"type": "sum_between", "column": "u", "min": 0, "max": 40000},
        {"type": "min_between", "column": "j", "max": 0},
        {"type": "max_between", "column": "f", "min": 9},
        {"type": "distinct_count_between", "column": "s", "min": 5},
        {"type": "distinct_count_between", "column": "f", "max": 100},
        {"type": "unique_proportion_between", "column": "i", "min": 0.5},
        {"type": "most_common_value_in_set", "column": "s", "values": ["a", "ab"]},
        {"type": "most_common_value_in_set", "column": "i", "values": [1, 2, 3], "ties_okay": True},
        {"type": "null_proportion_between", "column": "i", "max": 0.2},
        {"type": "null_proportion_between", "column": "allnull", "min": 1},
        {"type": "column_pair_less", "column_a": "i", "column_b": "j"},
        {"type": "column_pair_less", "column_a": "i", "column_b": "j", "or_equal": True},
        {"type": "column_pair_equal", "column_a": "i", "column_b": "j"},
        {"type": "column_pair_less", "column_a": "f", "column_b": "j"},
        {"type": "multicolumn_sum_equal", "columns": ["i", "j"], "total": 20},
        {"type": "expression", "expr": "i * 2 <= j"},
        {"type": "expression", "expr": "i > 3 OR j IS NULL"},
        {"type": "expression", "expr": "s LIKE 'a%' AND i >= 0"},
        {"type": "freshness", "column": "ts", "max_age": "3d"},
        {"type": "freshness", "column": "ts", "max_age": "1h"},
        {"type": "exists_in", "column": "i", "table": ref_path, "table_column": "k"},
    ]


# --------------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------------
def same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        if isinstance(a, tuple) or isinstance(b, tuple):  # the model's NaN key
            return (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b))
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def check(result: ExpectationResult, expected: dict, ctx: str) -> None:
    ctx = f"{ctx} {result.name} {result.kwargs}"
    assert result.error is None, f"{ctx}: error {result.error}"
    assert result.success == expected["success"], f"{ctx}: success {result.success} != {expected}"
    assert result.unexpected_count == expected["unexpected_count"], f"{ctx}: {result.unexpected_count} != {expected}"
    assert result.element_count == expected["element_count"], f"{ctx}: {result.element_count} != {expected}"
    if result.type in ("values_of_type", "schema_equals", "min_between", "max_between") and result.column in ("ts", "s", None):
        pass
    elif result.type == "freshness":
        if expected["observed"] is None:
            assert result.observed_value is None, ctx
        else:
            assert same(result.observed_value["age_seconds"], expected["observed"]), f"{ctx}: {result.observed_value}"
    elif result.type == "most_common_value_in_set" and expected["observed"] is not None:
        got = [key(v) for v in result.observed_value]
        assert same(got, expected["observed"]), f"{ctx}: {result.observed_value} != {expected['observed']}"
    elif result.type not in ("values_of_type", "schema_equals"):
        assert same(result.observed_value, expected["observed"]), f"{ctx}: observed {result.observed_value!r} != {expected['observed']!r}"
    if result.unexpected_count is not None:
        failing = expected["failing"]
        samples = result.unexpected_samples
        if expected["ordered"]:
            # the first failing values, in data order
            assert same(samples, failing[:5]), f"{ctx}: samples {samples} != {failing[:5]}"
        else:
            assert 0 < len(samples) <= 5 or not failing, f"{ctx}: samples {samples}"
            keys = [key(v) if not isinstance(v, dict) else tuple(key(x) for x in v.values()) for v in samples]
            fail_keys = [key(v) if not isinstance(v, dict) else tuple(key(x) for x in v.values()) for v in failing]
            for k in keys:
                assert any(same(k, f) for f in fail_keys), f"{ctx}: sample {k} is not a failing value"
            assert len({repr(k) for k in keys}) == len(keys), f"{ctx}: repeated samples {samples}"


@pytest.fixture(scope="module")
def ref_table(tmp_path_factory) -> tuple[str, set]:
    path = str(tmp_path_factory.mktemp("quality") / "dims")
    values = list(range(0, 12)) + [None]
    strata.write_table(path, pa.table({"k": pa.array(values, pa.int32())}))
    return path, {v for v in values if v is not None}


# --------------------------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------------------------
def test_catalogue_has_every_type_modelled(ref_table):
    names = {t["name"] for t in expectation_types()}
    assert len(names) >= 30
    covered = {s["type"] for s in specs(ref_table[0])}
    assert names <= covered, f"types without a model check: {names - covered}"


@pytest.mark.parametrize("seed", range(40))
def test_every_expectation_matches_the_model(seed, ref_table):
    ref_path, ref_values = ref_table
    t = gen_table(seed)
    suite = Suite(f"random_{seed}", specs(ref_path))
    threads = [1, 2, 4][seed % 3]
    data = t if seed % 2 else pa.RecordBatchReader.from_batches(t.schema, t.to_batches())
    report = suite.validate(data, threads=threads, now=NOW)
    assert report.row_count == t.num_rows
    assert len(report.results) == len(suite.expectations)
    for spec, result in zip(suite.expectations, report.results):
        check(result, ref(spec, t, ref_values), f"seed {seed} rows {t.num_rows}:")
    assert report.success == all(r.success for r in report.results)
    json.loads(report.to_json())  # always valid JSON


@pytest.mark.parametrize("seed", [3, 11])
def test_large_multi_morsel_data_matches(seed, ref_table):
    """Enough rows for several morsels per batch and per worker (64K-row morsels)."""
    ref_path, ref_values = ref_table
    rng = np.random.default_rng(seed)
    n = 200_000
    i = rng.integers(-3, 1_000_000, n)
    mask = rng.random(n) < 0.05
    f = rng.standard_normal(n) * 3 + 4
    f[rng.random(n) < 0.001] = np.nan
    t = pa.table({"i": pa.array(i, mask=mask), "f": pa.array(f), "inc": pa.array(np.cumsum(rng.integers(0, 3, n)) -
                                                                           (np.arange(n) == 150_000) * 10)})
    sp = [{"type": "unique", "column": "i"}, {"type": "between", "column": "f", "min": -5, "max": 13},
          {"type": "increasing", "column": "inc"}, {"type": "stdev_between", "column": "f", "min": 0},
          {"type": "mean_between", "column": "i", "min": 0}, {"type": "median_between", "column": "i", "min": 0},
          {"type": "distinct_count_between", "column": "i", "min": 0}, {"type": "sum_between", "column": "i", "min": 0}]
    report = Suite("big", sp).validate(t.combine_chunks(), threads=2)
    for spec, result in zip(sp, report.results):
        check(result, ref(spec, t, ref_values), f"seed {seed}:")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.one_of(st.none(), st.integers(-5, 5)), max_size=60),
       chunk=st.integers(1, 7), lo=st.integers(-6, 6), width=st.integers(0, 8))
def test_hypothesis_row_expectations(values, chunk, lo, width):
    t = pa.table({"x": pa.array(values, pa.int64())})
    batches = t.to_batches(max_chunksize=chunk)
    data = pa.Table.from_batches(batches, schema=t.schema) if batches else t
    sp = [{"type": "between", "column": "x", "min": lo, "max": lo + width},
          {"type": "unique", "column": "x"}, {"type": "increasing", "column": "x"},
          {"type": "decreasing", "column": "x", "strict": True}, {"type": "not_null", "column": "x"},
          {"type": "distinct_count_between", "column": "x", "min": lo}]
    report = Suite("h", sp).validate(data)
    for spec, result in zip(sp, report.results):
        check(result, ref(spec, t, set()), "hypothesis:")


def test_empty_and_all_null(ref_table):
    t = gen_table(0, n=0)
    report = Suite("empty", specs(ref_table[0])).validate(t, now=NOW)
    for r in report.results:
        if r.type in ("mean_between", "median_between", "stdev_between", "sum_between", "min_between", "max_between",
                      "quantiles_between", "unique_proportion_between", "null_proportion_between",
                      "most_common_value_in_set", "freshness", "row_count_between"):
            assert not r.success and (r.observed_value is None or r.type == "row_count_between"), r
        elif r.unexpected_count is not None:
            assert r.success and r.element_count == 0 and r.unexpected_count == 0 and r.unexpected_percent == 0, r
            assert r.unexpected_samples == []


def test_unexpected_percent_is_over_non_null_rows():
    t = pa.table({"x": [1, None, None, 50]})
    r = Suite("p", [{"type": "between", "column": "x", "max": 10}]).validate(t).results[0]
    assert (r.element_count, r.unexpected_count, r.unexpected_percent) == (2, 1, 50.0)
    assert r.observed_value == 0.5 and r.max == 10 and r.kwargs == {"column": "x", "max": 10}


def test_report_shapes():
    t = pa.table({"x": [1.0, -1.0, float("nan")], "ts": pa.array([BASE_TS, None, BASE_TS], pa.timestamp("us", "UTC"))})
    suite = Suite("shapes", [{"type": "between", "column": "x", "min": 0},
                             {"type": "mean_between", "column": "x", "min": 0},
                             {"type": "unique", "column": "ts"}])
    report = suite.validate(t)
    assert isinstance(report, Report) and not report.success
    assert report.statistics == {"evaluated": 3, "successful": 0, "unsuccessful": 3}
    assert [r.name for r in report.failed] == ["between(x)", "mean_between(x)", "unique(ts)"]
    assert report.results[0].unexpected_samples[0] == -1.0 and math.isnan(report.results[0].unexpected_samples[1])
    assert report.results[2].unexpected_samples == [BASE_TS]  # typed values in Python
    d = report.to_dict()
    assert d["suite"] == "shapes" and d["success"] is False and d["row_count"] == 3
    assert d["results"][0]["unexpected_samples"] == [-1, "NaN"]
    assert d["results"][1]["observed_value"] == "NaN"
    assert d["results"][2]["unexpected_samples"][0].startswith("2026-01-01T00:00:00")
    assert json.loads(report.to_json(indent=2)) == d
    text = str(report)
    assert "FAIL between(x)" in text and "1 unexpected" not in text.splitlines()[0]
    assert "FAILED" in repr(report)
    assert report.results[0].to_dict()["kwargs"] == {"column": "x", "min": 0}


def test_inputs_pandas_dict_batch_reader():
    import pandas as pd

    sp = [{"type": "between", "column": "x", "min": 0}]
    for data in (pd.DataFrame({"x": [1, -2, 3]}), {"x": [1, -2, 3]}, pa.record_batch({"x": [1, -2, 3]}),
                 pa.RecordBatchReader.from_batches(pa.schema({"x": pa.int64()}), [pa.record_batch({"x": [1, -2, 3]})])):
        assert Suite("in", sp).validate(data).results[0].unexpected_count == 1


# ---- errors --------------------------------------------------------------------------------
def test_bad_suite_files_name_file_and_line(tmp_path):
    cases = {
        "name: s\nexpectations:\n  - {type: not_null, column: a}\n  - {type: not_nul, column: a}\n":
            [":4:", "expectation 2", "unknown expectation type 'not_nul'"],
        "name: s\nexpectations:\n  - type: between\n    column: a\n    mni: 3\n":
            [":3:", "between on 'a'", "unknown key 'mni'", "line 5"],
        "name: s\nexpectations:\n  - {type: in_set, column: a, values: 3}\n":
            [":3:", "argument 'values'", "expected a list"],
        "name: s\nexpectations:\n  - {type: regex, column: a}\n": [":3:", "argument 'pattern'", "is required"],
        "name: s\nexpectations:\n  - {type: regex, column: a, pattern: '(?'}\n": [":3:", "invalid regular expression"],
        "name: s\nexpectations:\n  - {type: expression, expr: 'a >> 1'}\n": [":3:", "argument 'expr'"],
        "name: s\nexpectations:\n  - {type: not_null, column: a\n": ["invalid YAML"],
        "name: s\nexpectations: {type: not_null}\n": [":2:", "must be a list"],
    }
    for i, (text, parts) in enumerate(cases.items()):
        p = tmp_path / f"bad{i}.yaml"
        p.write_text(text)
        with pytest.raises(InvalidArgumentError) as ei:
            Suite.from_yaml(p)
        msg = str(ei.value)
        assert str(p) in msg, msg
        for part in parts:
            assert part in msg, f"{part!r} not in {msg!r}"


def test_missing_column_and_wrong_type_are_errors(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: s\nexpectations:\n  - {type: not_null, column: a}\n  - {type: mean_between, column: b, min: 0}\n")
    suite = Suite.from_yaml(p)
    with pytest.raises(InvalidArgumentError, match=r"s\.yaml:4: expectation 2 \(mean_between on 'b'\).*not in the data"):
        suite.validate(pa.table({"a": [1]}))
    with pytest.raises(InvalidArgumentError, match=r"s\.yaml:4.*needs a numeric column"):
        suite.validate(pa.table({"a": [1], "b": ["x"]}))
    with pytest.raises(InvalidArgumentError, match=r"expectation 1 \(between on 'x'\).*text"):
        Suite("c", [{"type": "between", "column": "x", "min": "zero"}]).validate(pa.table({"x": [1]}))
    with pytest.raises(InvalidArgumentError, match="must be a dict"):
        Suite("c", ["not_null"])
    with pytest.raises(InvalidArgumentError, match="unknown key 'colum'"):
        Suite("c", [{"type": "not_null", "colum": "x"}])


# ---- tables --------------------------------------------------------------------------------
def test_validate_table_at_version(tmp_path):
    path = str(tmp_path / "orders")
    dims = tmp_path / "customers"
    strata.write_table(str(dims), pa.table({"id": pa.array([1, 2, 3], pa.int64())}))
    strata.write_table(path, pa.table({"order_id": [1, 2], "customer": [1, 2], "amount": [10.0, 20.0], "note": ["a", "b"]}))
    strata.write_table(path, pa.table({"order_id": [2, 3], "customer": [3, 9], "amount": [-1.0, 5.0], "note": ["c", "d"]}))
    suite_file = tmp_path / "orders.yaml"
    suite_file.write_text(
        "name: orders\nexpectations:\n"
        "  - {type: unique, column: order_id}\n"
        "  - {type: between, column: amount, min: 0}\n"
        "  - {type: exists_in, column: customer, table: customers, table_column: id}\n"
        "  - {type: row_count_between, min: 1}\n")
    suite = Suite.from_yaml(suite_file)
    assert suite.name == "orders" and suite.required_columns == ["order_id", "amount", "customer"]
    v0 = suite.validate(path, version=0)
    assert v0.success and v0.row_count == 2 and v0.table_version == 0 and v0.table_path.endswith("orders")
    latest = suite.validate(path)
    assert not latest.success and latest.table_version == 1 and latest.row_count == 4
    assert [r.unexpected_count for r in latest.results[:3]] == [2, 1, 1]
    assert latest.results[2].unexpected_samples == [9]
    via_table = suite.validate(strata.Table(path, version=0))
    assert via_table.success and via_table.table_version == 0
    assert json.loads(latest.to_json())["table"]["version"] == 1
    with pytest.raises(InvalidArgumentError, match="version= applies"):
        suite.validate(pa.table({"a": [1]}), version=3)


def test_failing_rows_for_gates():
    suite = Suite("g", [{"type": "not_null", "column": "id"}, {"type": "between", "column": "v", "min": 0, "name": "v_pos"},
                        {"type": "mean_between", "column": "v", "min": 100}])
    out = suite.failing_rows(pa.table({"id": [1, None, 3], "v": [1, -1, -2]}))
    assert out.column("failed").to_pylist() == [False, True, True]
    assert out.column("reasons").to_pylist() == [None, "not_null(id); v_pos", "v_pos"]


# ---- the command -------------------------------------------------------------------------------
def run_cli(argv, capsys):
    parser = argparse.ArgumentParser(prog="strata")
    sub = parser.add_subparsers(dest="command")
    cli_validate.add_parser(sub)
    args = parser.parse_args(argv)
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_validate(tmp_path, capsys):
    path = str(tmp_path / "t")
    strata.write_table(path, pa.table({"x": [1, 2, 3]}))
    strata.write_table(path, pa.table({"x": [-5]}))
    good = tmp_path / "good.yaml"
    good.write_text("name: good\nexpectations:\n  - {type: not_null, column: x}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nexpectations:\n  - {type: between, column: x, min: 0}\n")
    code, out, _ = run_cli(["validate", str(good), path], capsys)
    assert code == 0 and "PASSED" in out and "PASS not_null(x)" in out
    code, out, _ = run_cli(["validate", str(bad), path], capsys)
    assert code == 1 and "FAIL between(x)" in out and "-5" in out
    code, out, _ = run_cli(["validate", str(bad), path, "--version", "0", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["table"]["version"] == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nexpectations:\n  - {type: nope}\n")
    code, _, err = run_cli(["validate", str(broken), path], capsys)
    assert code == 2 and "broken.yaml:3" in err
    code, _, err = run_cli(["validate", str(good), str(tmp_path / "missing")], capsys)
    assert code == 2 and err
    parser = argparse.ArgumentParser(prog="strata")
    help_text = cli_validate.add_parser(parser.add_subparsers()).format_help()
    assert "exit status" in help_text and "1  at least one expectation failed" in help_text


def test_null_typed_columns():
    """A column of Arrow's null type (e.g. all-None from pandas) is a column of nulls, checked as
    text by text expectations and as int64 otherwise."""
    t = pa.table({"x": pa.nulls(4), "y": pa.nulls(4), "z": [1, 2, 3, 4]})
    assert t.schema.field("x").type == pa.null()
    sp = [{"type": "between", "column": "x", "min": 0}, {"type": "regex", "column": "y", "pattern": "a"},
          {"type": "unique", "column": "x"}, {"type": "in_set", "column": "y", "values": ["a"]},
          {"type": "not_null", "column": "x"}, {"type": "mean_between", "column": "x", "min": 0},
          {"type": "null_proportion_between", "column": "x", "min": 1},
          {"type": "distinct_count_between", "column": "y", "max": 0}]
    r = Suite("nulls", sp).validate(t)
    got = [(x.success, x.element_count, x.unexpected_count, x.observed_value) for x in r.results]
    assert got == [(True, 0, 0, None), (True, 0, 0, None), (True, 0, 0, None), (True, 0, 0, None),
                   (False, 4, 4, 0.0), (False, None, None, None), (True, None, None, 1.0), (True, None, None, 0)]
