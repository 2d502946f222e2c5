"""Column profiles (strata.quality.profile) against exact numpy/pyarrow computations.

Exact fields (count, nulls, NaN, min, max, lengths, low-cardinality top values and distinct
counts) must match exactly; mean/stdev to floating-point precision; sketched fields within their
documented error: distinct within 4% (HyperLogLog p=14: 0.81% standard error), quantiles within
2% normalized rank (KLL k=200), histogram bins within 3% of the rows.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import strata
from strata.errors import InvalidArgumentError
from strata.quality import cli_drift
from strata.quality._profile import Profile, profile

N = 60_000


def random_table(n=N, seed=0) -> pa.Table:
    rng = np.random.default_rng(seed)
    ints = rng.integers(-50_000, 50_000, n)
    floats = rng.normal(100, 15, n)
    floats[rng.random(n) < 0.05] = np.nan
    words = np.array(["αβγ", "naïve", "日本語", "plain", "emoji 🎉", "", "ü" * 30])
    strings = [None if i % 9 == 0 else f"{words[rng.integers(0, 7)]}{rng.integers(0, 40)}" for i in range(n)]
    return pa.table({
        "i": pa.array(ints, mask=rng.random(n) < 0.1),
        "f": pa.array(floats, mask=rng.random(n) < 0.03),  # NaN and nulls
        "s": pa.array(strings, pa.string()),
        "b": pa.array(rng.random(n) < 0.3),
        "t": pa.array(1_700_000_000_000_000 + np.arange(n) * 1000, pa.timestamp("us", tz="UTC")),
        "small": pa.array(rng.integers(0, 6, n) * 10, pa.int32()),
        "nulls": pa.array([None] * n, pa.float64()),
        "empty_str": pa.array([""] * n),
        "big": pa.array(rng.integers(0, 2**40, n)),  # high cardinality: distinct sketched, top values inexact
    })


def valid_numbers(col: pa.ChunkedArray) -> np.ndarray:
    v = col.drop_null().to_numpy(zero_copy_only=False).astype(float)
    return v[~np.isnan(v)]


def assert_rank_close(values: np.ndarray, q: float, got: float, tol=0.02):
    s = np.sort(values)
    lo = np.searchsorted(s, got, side="left") / len(s)
    hi = np.searchsorted(s, got, side="right") / len(s)
    assert lo - tol <= q <= hi + tol, (q, got, lo, hi)


def test_profile_matches_numpy_and_pyarrow():
    t = random_table()
    p = profile(t)
    assert p.num_rows == N and p.column_names == t.column_names and p.table_version is None

    for name in ["i", "f", "small", "big"]:
        col, c = t[name], p[name]
        v = valid_numbers(col)
        assert c.count == N
        assert c.null_count == col.null_count
        assert c.nan_count == (int(np.isnan(col.drop_null().to_numpy(zero_copy_only=False).astype(float)).sum()))
        assert c.valid_count == len(v)
        assert c.min == v.min() and c.max == v.max()
        assert c.mean == pytest.approx(v.mean(), rel=1e-12, abs=1e-9)
        assert c.stdev == pytest.approx(v.std(ddof=1), rel=1e-10)
        n_distinct = len(np.unique(v))
        if c.distinct_exact:
            assert c.distinct == n_distinct
        else:
            assert c.distinct == pytest.approx(n_distinct, rel=0.04)
        for q, got in c.quantiles.items():
            assert_rank_close(v, q, got)
        hist = c.histogram
        assert len(hist) == 20 and sum(b[2] for b in hist) == c.valid_count
        assert hist[0][0] == c.min and hist[-1][1] == c.max
        np_counts, _ = np.histogram(v, bins=20, range=(v.min(), v.max()))
        for (lo, hi, cnt), want in zip(hist, np_counts):
            assert abs(cnt - want) <= 0.03 * len(v)

    assert p["f"].nan_count > 0 and p["f"].kind == "float"
    assert p["i"].kind == "integer" and isinstance(p["i"].min, int)

    # Low cardinality: exact top values and distinct.
    small = p["small"]
    vc = pc.value_counts(t["small"]).to_pylist()
    assert small.top_values_exact and small.distinct_exact and small.distinct == 6
    assert sorted(small.top_values) == sorted((d["values"], d["counts"]) for d in vc)
    assert [c for _, c in small.top_values] == sorted((c for _, c in small.top_values), reverse=True)
    big = p["big"]
    assert not big.distinct_exact and not big.top_values_exact and big.top_values_max_error > 0

    # Strings: unicode, empty strings, nulls; lengths in bytes.
    s, col = p["s"], t["s"]
    vals = [x for x in col.to_pylist() if x is not None]
    assert s.kind == "string" and s.null_count == col.null_count
    assert s.min == min(vals) and s.max == max(vals)  # code point order = UTF-8 byte order
    lengths = [len(x.encode()) for x in vals]
    assert (s.min_length, s.max_length) == (min(lengths), max(lengths))
    assert s.mean_length == pytest.approx(np.mean(lengths), rel=1e-12)
    assert s.distinct_exact and s.distinct == len(set(vals))
    counts = {}
    for x in vals:
        counts[x] = counts.get(x, 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode()))[:10]
    assert s.top_values == top
    assert s.mean is None and s.quantiles == {} and s.histogram == []

    b = p["b"]
    trues = int(pc.sum(t["b"]).as_py())
    assert b.kind == "boolean" and dict(b.top_values) == {True: trues, False: N - trues}
    assert b.mean == pytest.approx(trues / N) and (b.min, b.max) == (False, True)

    ts = p["t"]
    assert ts.kind == "temporal" and ts.min == 1_700_000_000_000_000 and ts.max == 1_700_000_000_000_000 + (N - 1) * 1000
    assert ts.mean == pytest.approx(1_700_000_000_000_000 + (N - 1) * 500, rel=1e-15)
    assert ts.stdev == pytest.approx(np.arange(N).std(ddof=1) * 1000, rel=1e-9)

    nulls = p["nulls"]
    assert nulls.null_count == N and nulls.valid_count == 0 and nulls.min is None and nulls.mean is None
    assert nulls.distinct == 0 and nulls.histogram == [] and nulls.quantiles == {}
    e = p["empty_str"]
    assert e.min == "" and e.max_length == 0 and e.distinct == 1 and e.top_values == [("", N)]


def test_profile_inputs_and_columns():
    t = random_table(2000)
    assert profile(t.to_batches()[0]).num_rows == 2000
    assert profile(t.to_pandas()).num_rows == 2000
    assert profile({"x": [1, 2, 3]})["x"].max == 3
    sub = profile(t, columns=["s", "i"])
    assert sub.column_names == ["s", "i"]
    assert profile(t, columns="i").column_names == ["i"]
    with pytest.raises(InvalidArgumentError, match="nope"):
        profile(t, columns=["nope"])
    with pytest.raises(InvalidArgumentError):
        profile(object())
    empty = profile(pa.table({"x": pa.array([], pa.float64()), "s": pa.array([], pa.string())}))
    assert empty.num_rows == 0 and empty["x"].count == 0 and empty["x"].min is None
    binary = profile(pa.table({"bin": pa.array([b"\x00\xff", b"a", None])}))
    assert binary["bin"].kind == "binary" and binary["bin"].min == b"\x00\xff" and binary["bin"].max == b"a"
    dict_col = profile(pa.table({"d": pa.array(["x", "y", "x"]).dictionary_encode()}))
    assert dict_col["d"].top_values[0] == ("x", 2)


def assert_same_exact_fields(a: Profile, b: Profile):
    assert a.num_rows == b.num_rows and a.column_names == b.column_names
    for name in a:
        x, y = a[name], b[name]
        for f in ["count", "null_count", "nan_count", "valid_count", "min", "max", "min_length", "max_length", "kind"]:
            assert getattr(x, f) == getattr(y, f), (name, f)
        for f in ["mean", "stdev", "mean_length"]:
            if getattr(x, f) is None:
                assert getattr(y, f) is None
            else:
                assert getattr(y, f) == pytest.approx(getattr(x, f), rel=1e-9), (name, f)
        if x.distinct_exact and y.distinct_exact:
            assert x.distinct == y.distinct
        elif x.distinct:
            assert y.distinct == pytest.approx(x.distinct, rel=0.03)
        if x.top_values_exact and y.top_values_exact:
            assert sorted(x.top_values, key=repr) == sorted(y.top_values, key=repr)


def test_merge_equals_profile_of_the_union():
    t = random_table(40_000, seed=3)
    parts = [t.slice(0, 10_000), t.slice(10_000, 25_000), t.slice(35_000)]
    merged = profile(parts[0]).merge(profile(parts[1])).merge(profile(parts[2]))
    whole = profile(t)
    assert_same_exact_fields(whole, merged)
    for name in ["i", "f"]:
        for q, got in merged[name].quantiles.items():
            assert_rank_close(valid_numbers(t[name]), q, got)
    # Columns one side lacks count as null on the other side's rows.
    a = profile(pa.table({"x": [1, 2]}))
    b = profile(pa.table({"x": [3], "y": ["z"]}))
    ab = a.merge(b)
    assert ab["x"].max == 3 and ab["y"].count == 3 and ab["y"].null_count == 2
    with pytest.raises(strata.SchemaMismatchError):
        a.merge(profile(pa.table({"x": ["text"]})))


def test_json_round_trip():
    p = profile(random_table(5000, seed=4))
    text = p.to_json()
    back = Profile.from_json(text)
    assert back.to_json() == text
    assert_same_exact_fields(p, back)
    d = json.loads(text)
    assert d["format"] == "strata.profile" and d["columns"][0]["name"] == "i"
    assert {"hll", "kll", "top", "moments"} <= set(d["columns"][0]["state"])
    merged = back.merge(profile(random_table(100, seed=5)))
    assert merged.num_rows == 5100
    with pytest.raises(InvalidArgumentError):
        Profile.from_json("{}")
    assert len(p.to_arrow()) == len(p) and "column" in p.to_arrow().column_names
    assert "rows" in str(p)


def test_table_profiles_are_stored_and_updated_incrementally(tmp_table):
    t = random_table(30_000, seed=6)
    strata.write_table(tmp_table, t.slice(0, 20_000))
    p0 = profile(tmp_table)
    assert (p0.source, p0.table_version, p0.num_rows) == ("full", 0, 20_000)
    stored = os.path.join(tmp_table, "_strata", "profiles", "00000000000000000000.json")
    assert os.path.exists(stored)
    assert profile(tmp_table).source == "stored"

    strata.write_table(tmp_table, t.slice(20_000, 6_000))
    strata.write_table(tmp_table, t.slice(26_000))
    p2 = profile(tmp_table)
    assert (p2.source, p2.base_version, p2.table_version, p2.rows_scanned) == ("incremental", 0, 2, 10_000)
    full = profile(tmp_table, use_stored=False, store=False)
    assert full.source == "full"
    assert_same_exact_fields(full, p2)
    assert_same_exact_fields(profile(t), p2)  # equals a profile of the same rows in memory

    # Time travel and path@version.
    assert profile(f"{tmp_table}@0").num_rows == 20_000
    assert profile(strata.Table(tmp_table, version=0)).source == "stored"
    assert profile(tmp_table, version=2).source == "stored"

    # Not an append (DELETE): recomputed.
    strata.Table(tmp_table).delete("i > 0")
    p3 = profile(tmp_table)
    assert p3.source == "full" and p3["i"].max <= 0

    # Readers and VACUUM leave _strata/ alone.
    assert strata.Table(tmp_table).count() == p3.num_rows
    strata.Table(tmp_table).vacuum(retention_hours=0, force=True)
    assert os.path.exists(stored)
    with pytest.raises(strata.NotATableError):
        profile(os.path.join(tmp_table, "missing"))


def test_cli_profile(tmp_table, capsys):
    strata.write_table(tmp_table, random_table(1000, seed=8))
    strata.write_table(tmp_table, random_table(500, seed=9))
    parser = argparse.ArgumentParser(prog="strata")
    cli_drift.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["profile", tmp_table, "--version", "0"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "1,000 rows" in out and "table version 0" in out
    args = parser.parse_args(["profile", tmp_table, "--format", "json", "--columns", "s,i"])
    assert args.func(args) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["num_rows"] == 1500 and [c["name"] for c in d["columns"]] == ["s", "i"]
    args = parser.parse_args(["profile", tmp_table + "_nope"])
    assert args.func(args) == 2
