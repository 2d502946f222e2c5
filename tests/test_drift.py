"""Drift metrics (strata.quality.drift) against numpy/scipy oracles on random data.

Oracles, exactly:
- PSI: numpy on the SAME bins: edges = np.quantile(ref, np.arange(1, bins) / bins) (default
  "linear" method), bin = np.searchsorted(edges, x, side="right"), empty proportions -> 1e-4.
- KS: scipy.stats.ks_2samp(a, b).statistic, and p-value = scipy.stats.kstwobign.sf(D * sqrt(en)).
- chi-square: scipy.stats.chi2_contingency(table, correction=False) (columns empty on both sides
  dropped).
- JS: scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2 (scipy returns the distance).
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

import strata
from strata.errors import InvalidArgumentError, SchemaMismatchError
from strata.quality import cli_drift
from strata.quality._drift import (
    DEFAULT_THRESHOLDS,
    PSI_EPSILON,
    DriftReport,
    category_counts,
    chi_square,
    drift,
    js_divergence,
    ks,
    psi,
    psi_details,
)


def numpy_bins(ref: np.ndarray, cur: np.ndarray, bins: int):
    ref = ref[~np.isnan(ref)]
    cur = cur[~np.isnan(cur)]
    edges = np.quantile(ref, np.arange(1, bins) / bins) if bins > 1 else np.array([])
    rc = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=bins)
    cc = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=bins)
    return edges, rc, cc


def numpy_psi(rc, cc, eps=PSI_EPSILON):
    p = rc / rc.sum()
    q = cc / cc.sum()
    p = np.where(p == 0, eps, p)
    q = np.where(q == 0, eps, q)
    return float(np.sum((q - p) * np.log(q / p)))


# ----------------------------------------------------------------------------------------------
# PSI
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bins", [1, 2, 5, 10, 20, 64])
@pytest.mark.parametrize("dist", ["normal", "lognormal", "ties", "sorted"])
def test_psi_matches_numpy_on_the_same_bins(bins, dist):
    rng = np.random.default_rng(bins * 7 + len(dist))
    n = 200_000
    if dist == "normal":
        ref, cur = rng.normal(size=n), rng.normal(0.1, 1.2, size=n // 2)
    elif dist == "lognormal":
        ref, cur = rng.lognormal(size=n), rng.lognormal(0.2, 1, size=n)
    elif dist == "ties":
        ref, cur = rng.integers(0, 7, n).astype(float), rng.integers(0, 9, n).astype(float)
    else:
        ref, cur = np.arange(n, dtype=float), np.arange(n, dtype=float) * 1.5
    r = psi_details(ref, cur, bins)
    edges, rc, cc = numpy_bins(ref, cur, bins)
    np.testing.assert_array_equal(np.array(r.edges), edges)  # exact order statistics
    assert r.reference_counts == rc.tolist()
    assert r.current_counts == cc.tolist()
    assert r.psi == pytest.approx(numpy_psi(rc, cc), rel=1e-12, abs=1e-15)
    assert psi(ref, cur, bins) == r.psi


@settings(max_examples=60, deadline=None)
@given(
    ref=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300),
    cur=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300),
    bins=st.integers(1, 12),
)
def test_psi_property_small_inputs(ref, cur, bins):
    r = psi_details(ref, cur, bins)
    edges, rc, cc = numpy_bins(np.array(ref), np.array(cur), bins)
    np.testing.assert_array_equal(np.array(r.edges), edges)
    assert r.reference_counts == rc.tolist()
    assert r.current_counts == cc.tolist()
    assert r.psi == pytest.approx(numpy_psi(rc, cc), rel=1e-9, abs=1e-12)


def test_psi_identical_is_zero_and_shift_is_large():
    rng = np.random.default_rng(1)
    a = rng.normal(size=100_000)
    assert psi(a, a) == 0.0
    assert psi(a, a.copy()[::-1]) == 0.0
    assert psi(a, rng.normal(size=100_000)) < 0.01
    assert psi(a, a + 1.0) > 0.5


def test_psi_out_of_range_goes_to_end_bins_and_epsilon():
    ref = np.arange(1000, dtype=float)
    r = psi_details(ref, np.full(500, 1e9), 10)
    assert r.current_counts == [0] * 9 + [500]
    r2 = psi_details(ref, np.full(500, -1e9), 10)
    assert r2.current_counts == [500] + [0] * 9
    # Empty current bins use epsilon = 1e-4 for their proportion.
    expected = sum((q - 0.1) * math.log(q / 0.1) for q in [1e-4] * 9 + [1.0])
    assert r.psi == pytest.approx(expected, rel=1e-12)
    assert psi(ref, np.full(500, 1e9), epsilon=1e-3) != r.psi


def test_psi_ignores_nulls_and_nan():
    rng = np.random.default_rng(2)
    ref = rng.normal(size=50_000)
    cur = rng.normal(0.3, 1, size=40_000)
    ref_nan = ref.copy()
    ref_nan[::10] = np.nan
    cur_list = [None if i % 7 == 0 else float(x) for i, x in enumerate(cur)]
    r = psi_details(ref_nan, pa.array(cur_list, pa.float64()), 10)
    edges, rc, cc = numpy_bins(ref_nan, np.array([x for x in cur_list if x is not None]), 10)
    np.testing.assert_array_equal(np.array(r.edges), edges)
    assert r.reference_counts == rc.tolist() and r.current_counts == cc.tolist()
    assert r.reference_ignored == 5000
    assert r.current_ignored == sum(1 for x in cur_list if x is None)


@pytest.mark.parametrize("make", [
    lambda v: v,                                            # numpy float64
    lambda v: v.tolist(),                                   # list
    lambda v: pa.array(v),                                  # pyarrow Array
    lambda v: pa.chunked_array([v[:300], v[300:]]),         # ChunkedArray
    lambda v: __import__("pandas").Series(v),               # pandas Series
    lambda v: pa.array(v, pa.float32()),                    # float32
    lambda v: pa.array(np.round(v * 100).astype(np.int32)),  # int32 (numbers as ints)
])
def test_psi_accepts_array_likes(make):
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=1000), rng.normal(size=800)
    r = psi_details(make(ref), make(cur), 10)
    as_np = lambda x: np.asarray(pa.chunked_array([x]).to_numpy() if isinstance(x, pa.Array) else (  # noqa: E731
        x.to_numpy() if hasattr(x, "to_numpy") else x), dtype=float)
    edges, rc, cc = numpy_bins(as_np(make(ref)), as_np(make(cur)), 10)
    np.testing.assert_allclose(np.array(r.edges), edges, rtol=0, atol=0)
    assert r.reference_counts == rc.tolist() and r.current_counts == cc.tolist()


def test_psi_temporal_and_decimal():
    ts = pa.array(np.arange(1000) * 1_000_000, pa.timestamp("us", tz="UTC"))
    ts2 = pa.array(np.arange(500, 1500) * 1_000_000, pa.timestamp("us", tz="UTC"))
    r = psi_details(ts, ts2, 4)
    assert r.edges == np.quantile(np.arange(1000) * 1_000_000.0, [0.25, 0.5, 0.75]).tolist()
    import decimal  # noqa: PLC0415

    d = pa.array([decimal.Decimal(f"{i}.25") for i in range(100)], pa.decimal128(10, 2))
    assert psi(d, d) == 0.0


def test_psi_errors():
    with pytest.raises(InvalidArgumentError, match="reference data has no values"):
        psi([], [1.0, 2.0])
    with pytest.raises(InvalidArgumentError, match="current data has no values"):
        psi([1.0, 2.0], [float("nan"), None])
    with pytest.raises(InvalidArgumentError):
        psi(pa.array([None, None], pa.float64()), [1.0])
    with pytest.raises(InvalidArgumentError, match="bins"):
        psi([1.0], [1.0], bins=0)
    with pytest.raises(SchemaMismatchError):
        psi(["a", "b"], ["c"])
    with pytest.raises(InvalidArgumentError, match="one-dimensional"):
        psi(np.zeros((2, 2)), [1.0])
    with pytest.raises(InvalidArgumentError, match="array-like"):
        psi(object(), [1.0])


# ----------------------------------------------------------------------------------------------
# KS
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,m,shift", [(1000, 1500, 0.0), (5000, 7000, 0.05), (30000, 20000, 0.02), (300, 200, 0.3)])
def test_ks_matches_scipy(n, m, shift):
    rng = np.random.default_rng(n + m)
    a, b = rng.normal(size=n), rng.normal(shift, 1, size=m)
    r = ks(a, b)
    sc = stats.ks_2samp(a, b, method="asymp")
    assert r.statistic == pytest.approx(sc.statistic, abs=1e-15)
    en = n * m / (n + m)
    assert r.pvalue == pytest.approx(stats.kstwobign.sf(r.statistic * math.sqrt(en)), rel=1e-9, abs=1e-300)
    if min(n, m) >= 1000:
        assert abs(r.pvalue - sc.pvalue) < 0.01  # kstwobign vs scipy's kstwo(round(en))
    assert (r.reference_count, r.current_count) == (n, m)


def test_ks_ties_nan_and_identical():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 20, 10_000).astype(float)
    b = rng.integers(0, 22, 9_000).astype(float)
    a[::100] = np.nan
    r = ks(a, b)
    assert r.statistic == pytest.approx(stats.ks_2samp(a[~np.isnan(a)], b).statistic, abs=1e-15)
    assert r.reference_count == 10_000 - 100
    same = ks([1.0, 2.0, 3.0], [3.0, 2.0, 1.0])
    assert same.statistic == 0 and same.pvalue == 1.0
    with pytest.raises(InvalidArgumentError):
        ks([], [1.0])


# ----------------------------------------------------------------------------------------------
# chi-square and JS
# ----------------------------------------------------------------------------------------------
def test_chi_square_and_js_match_scipy_on_categories():
    rng = np.random.default_rng(5)
    cats = np.array(["alpha", "béta", "gamma", "δ", "e", "f"])
    ref = rng.choice(cats[:5], 20_000, p=[0.3, 0.3, 0.2, 0.1, 0.1])
    cur = rng.choice(cats, 15_000, p=[0.25, 0.25, 0.2, 0.1, 0.1, 0.1])  # "f" only in current
    counts = category_counts(ref, cur)
    assert list(counts) == sorted(counts)
    rc = np.array([counts[c][0] for c in counts])
    cc = np.array([counts[c][1] for c in counts])
    assert rc.sum() == 20_000 and cc.sum() == 15_000 and counts["f"][0] == 0
    sc = stats.chi2_contingency(np.array([rc, cc]), correction=False)
    r = chi_square(ref, cur)
    assert r.statistic == pytest.approx(sc.statistic, rel=1e-10)
    assert r.dof == sc.dof == 5
    assert r.pvalue == pytest.approx(sc.pvalue, rel=1e-8, abs=1e-300)
    js = js_divergence(ref, cur)
    assert js == pytest.approx(jensenshannon(rc, cc, base=2) ** 2, rel=1e-10)
    assert 0 < js < 1
    assert js_divergence(ref, ref) == 0.0
    assert js_divergence(["a"] * 5, ["b"] * 3) == pytest.approx(1.0)


def test_chi_square_and_js_on_booleans_ints_and_nulls():
    r = chi_square(pa.array([True, False, None, True]), pa.array([False, False, True]))
    sc = stats.chi2_contingency(np.array([[1, 2], [2, 1]]), correction=False)
    assert (r.statistic, r.dof) == (pytest.approx(sc.statistic), 1)
    assert category_counts([3, 1, 3, None], [1, 1]) == {"1": (1, 2), "3": (2, 0)}
    # A single category: nothing to test.
    assert chi_square(["x", "x"], ["x"]) == (0.0, 0, 1.0)


def test_chi_square_and_js_with_bins_match_scipy():
    rng = np.random.default_rng(6)
    ref, cur = rng.normal(size=30_000), rng.normal(0.2, 1, size=20_000)
    _, rc, cc = numpy_bins(ref, cur, 10)
    sc = stats.chi2_contingency(np.array([rc, cc]), correction=False)
    r = chi_square(ref, cur, bins=10)
    assert r.statistic == pytest.approx(sc.statistic, rel=1e-10)
    assert r.dof == 9
    assert js_divergence(ref, cur, bins=10) == pytest.approx(jensenshannon(rc, cc, base=2) ** 2, rel=1e-10)
    # Floats as categories need bins=.
    with pytest.raises(SchemaMismatchError):
        chi_square(ref, cur)


# ----------------------------------------------------------------------------------------------
# drift() reports
# ----------------------------------------------------------------------------------------------
def _frames(n=20_000, seed=7, drifted=True):
    rng = np.random.default_rng(seed)
    ref = pa.table({
        "amount": rng.lognormal(3, 1, n),
        "age": rng.integers(18, 80, n),
        "country": rng.choice(["FR", "DE", "US", "GB"], n, p=[0.4, 0.3, 0.2, 0.1]),
        "flag": rng.random(n) < 0.5,
        "stable": rng.normal(size=n),
    })
    cur = pa.table({
        "amount": rng.lognormal(4.0 if drifted else 3, 1, n),
        "age": rng.integers(18, 80, n),
        "country": rng.choice(["FR", "DE", "US", "GB"], n, p=[0.1, 0.2, 0.3, 0.4] if drifted else [0.4, 0.3, 0.2, 0.1]),
        "flag": rng.random(n) < 0.5,
        "stable": rng.normal(size=n),
    })
    return ref, cur


def test_drift_report_alerts_and_metrics():
    ref, cur = _frames()
    r = drift(ref, cur, thresholds={"ks_pvalue": 1e-6})  # undrifted columns may reach p < 0.05 by chance
    assert isinstance(r, DriftReport)
    assert list(r.columns) == ["amount", "age", "country", "flag", "stable"]
    amount = r["amount"]
    assert amount.kind == "numeric" and amount.drifted
    assert {a.metric for a in amount.alerts} == {"psi", "ks_pvalue", "js"}
    assert amount.psi == pytest.approx(psi(ref["amount"], cur["amount"]), rel=1e-12)
    assert amount.ks_statistic == pytest.approx(stats.ks_2samp(ref["amount"], cur["amount"]).statistic, abs=1e-15)
    country = r["country"]
    assert country.kind == "categorical" and country.chi2_dof == 3 and country.ks_statistic is None
    assert {a.metric for a in country.alerts} == {"psi", "js"}
    assert r["stable"].alerts == [] and r["age"].alerts == [] and r["flag"].alerts == []
    assert r.has_alerts and r.drifted_columns == ["amount", "country"]
    assert r.thresholds["psi"] == DEFAULT_THRESHOLDS["psi"]
    d = json.loads(r.to_json())
    assert d["has_alerts"] is True and len(d["alerts"]) == 5
    text = r.to_text()
    assert "amount" in text and "psi>0.2" in text


def test_drift_options():
    ref, cur = _frames(drifted=False)
    r = drift(ref, cur, columns=["amount", "country"], thresholds={"ks_pvalue": None})
    assert list(r.columns) == ["amount", "country"]
    assert not r.has_alerts
    # chi-square alerts only when asked for; thresholds can be tightened.
    r2 = drift(ref, cur, columns="country", thresholds={"chi2_pvalue": 1.0, "psi": 0.0})
    assert {a.metric for a in r2.alerts} == {"chi2_pvalue", "psi"}
    # PSI only (no sort): the same PSI as the full report.
    fast = drift(ref, cur, metrics=["psi"])
    assert fast["amount"].psi == drift(ref, cur)["amount"].psi
    assert fast["amount"].ks_statistic is None and fast["amount"].js is None
    with pytest.raises(InvalidArgumentError, match="unknown threshold"):
        drift(ref, cur, thresholds={"wasserstein": 1})
    with pytest.raises(InvalidArgumentError, match="unknown metric"):
        drift(ref, cur, metrics=["wasserstein"])
    with pytest.raises(InvalidArgumentError, match="nope"):
        drift(ref, cur, columns=["nope"])


def test_drift_skips_what_it_cannot_compare():
    ref = pa.table({"a": [1.0, 2.0], "only_ref": [1, 2], "empty": pa.array([None, None], pa.float64()),
                    "mixed": [1, 2], "nested": [[1], [2]]})
    cur = pa.table({"a": [1.0, 3.0], "empty": pa.array([1.0, 2.0]), "mixed": ["x", "y"], "nested": [[1], [2]],
                    "only_cur": ["z", "z"]})
    r = drift(ref, cur)
    assert r["only_ref"].skipped == "only in the reference"
    assert r["only_cur"].skipped == "only in the current data"
    assert "no values" in r["empty"].skipped
    assert r["mixed"].skipped.startswith("types differ")
    assert r["nested"].skipped.startswith("unsupported type")
    assert r["a"].skipped is None and r["a"].psi is not None


def test_drift_of_tables_with_versions(tmp_table):
    ref, cur = _frames()
    strata.write_table(tmp_table, ref)
    strata.write_table(tmp_table, cur, mode="overwrite")
    r = drift(f"{tmp_table}@0", tmp_table, columns=["amount", "stable"], thresholds={"ks_pvalue": 1e-6})
    assert r.reference == f"{tmp_table}@0" and r.current == tmp_table
    assert r["amount"].drifted and not r["stable"].drifted
    r2 = drift(strata.Table(tmp_table, version=0), strata.Table(tmp_table), columns=["amount"])
    assert r2["amount"].psi == r["amount"].psi
    same = drift(f"{tmp_table}@1", strata.Table(tmp_table))
    assert all(c.psi == 0 for c in same if c.psi is not None) and not same.has_alerts
    with pytest.raises(strata.VersionNotFoundError):
        drift(f"{tmp_table}@9", tmp_table)


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------
def _cli(argv):
    parser = argparse.ArgumentParser(prog="strata")
    sub = parser.add_subparsers(dest="command")
    cli_drift.add_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_drift_exit_codes_and_formats(tmp_path, capsys):
    ref, cur = _frames()
    path = str(tmp_path / "t")
    strata.write_table(path, ref)
    strata.write_table(path, cur, mode="overwrite")
    strata.write_table(path, ref, mode="overwrite")  # version 2 equals version 0
    assert _cli(["drift", f"{path}@0", f"{path}@2"]) == 0
    out = capsys.readouterr().out
    assert "0 alerts" in out
    assert _cli(["drift", f"{path}@0", f"{path}@1", "--columns", "amount,country", "--format", "json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in d["columns"]] == ["amount", "country"] and d["has_alerts"]
    assert _cli(["drift", f"{path}@0", f"{path}@1", "--bins", "5", "--columns", "stable", "--ks-pvalue", "0"]) == 0
    assert _cli(["drift", f"{path}@0", str(tmp_path / "missing")]) == 2
    assert "error" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _cli(["drift", path, path, "--bins", "0"])


def test_cli_drift_help_mentions_exit_codes(capsys):
    with pytest.raises(SystemExit):
        _cli(["drift", "--help"])
    text = capsys.readouterr().out
    assert "exit status" in text and "1  at least one alert" in text and "PATH@N" in text
