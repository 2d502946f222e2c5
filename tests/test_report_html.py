"""HTML data-quality reports (Report.to_html, Profile.to_html, DriftReport.to_html, --html) read
back in a real browser.

The reports are built from seeded random data with failing rows, a drifted column and values
that are HTML. One headless Chromium run (tests/browser/check_report.mjs, Debian's chromium
driven by playwright-core; installed by scripts/setup-browser) opens every page with all
network access blocked and prints what the browser sees: errors, attempted requests, the size
of every chart and the text and data- attributes of every element that carries a number. The
tests compare those with the Python objects. Without chromium or node_modules they are skipped,
except under CI, where that is a failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import math
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import strata
from strata import quality
from strata.quality import cli_drift, cli_validate

ROOT = Path(__file__).resolve().parent.parent
BROWSER_DIR = ROOT / "tests" / "browser"
CHECK_SCRIPT = BROWSER_DIR / "check_report.mjs"
CHROMIUM = Path("/usr/bin/chromium")
XSS = "<script>alert(1)</script>"
SUITE_NAME = "orders <b>&</b>"
REL = 5e-6  # 6 significant digits on screen
SVG_NS = "http://www.w3.org/2000/svg"


# ----------------------------------------------------------------------------------------------
# Data and reports
# ----------------------------------------------------------------------------------------------
def _orders(n: int, seed: int, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = np.arange(n, dtype=np.int64)
    if shift:
        ids[-3:] = ids[:3]  # duplicates: `unique` fails
    amount = rng.normal(50 + shift, 15, n)
    cities = np.array(["paris", "berlin", "rome", XSS])
    p = [0.5, 0.3, 0.2, 0.0] if not shift else [0.3, 0.3, 0.34, 0.06]
    start = dt.datetime(2024, 1, 1)
    return pa.table({
        "id": pa.array(ids),
        "amount": pa.array(amount, mask=rng.random(n) < 0.05),
        "city": pa.array(rng.choice(cities, n, p=p)),
        "qty": pa.array(rng.integers(0, 50, n), pa.int32(), mask=rng.random(n) < 0.1),
        "flag": pa.array(rng.random(n) < 0.3),
        "ts": pa.array([start + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 30, n)],
                       pa.timestamp("us")),
    })


EXPECTATIONS = [
    {"type": "not_null", "column": "id"},
    {"type": "unique", "column": "id"},
    {"type": "between", "column": "amount", "min": 10, "max": 90},
    {"type": "in_set", "column": "city", "values": ["paris", "berlin", "rome"]},
    {"type": "regex", "column": "city", "pattern": "^[a-z]+$"},
    {"type": "stdev_between", "column": "amount", "min": 5, "max": 30},
    {"type": "mean_between", "column": "amount", "min": 0, "max": 10},
    {"type": "row_count_between", "min": 1, "max": 1_000_000},
    {"type": "null_proportion_between", "column": "amount", "min": 0, "max": 0.2},
    {"type": "column_pair_less", "column_a": "qty", "column_b": "id"},
    {"type": "quantiles_between", "column": "amount", "quantiles": [0.25, 0.5], "ranges": [[0, 100], [0, 100]]},
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every page written once: report.html (results, drift, profile), profile.html, drift.html,
    and control.html, a page that does reach for the network (to prove the blocker sees it)."""
    d = tmp_path_factory.mktemp("html")
    reference, current = _orders(3000, seed=7), _orders(2500, seed=8, shift=12)
    report = quality.Suite(SUITE_NAME, EXPECTATIONS).validate(current)
    prof = quality.profile(current)
    drift = quality.drift(reference, current, histograms=True)
    paths = {
        "report": report.to_html(d / "report.html", profile=prof, drift=drift),
        "profile": prof.to_html(d / "profile.html"),
        "drift": drift.to_html(d / "drift.html"),
    }
    control = d / "control.html"
    control.write_text('<!DOCTYPE html><html><head><title>control</title>'
                       '<link rel="stylesheet" href="https://example.invalid/a.css"></head>'
                       '<body><img src="http://example.invalid/x.png" alt="x"></body></html>')
    paths["control"] = str(control)
    return {"dir": d, "paths": paths, "report": report, "profile": prof, "drift": drift,
            "reference": reference, "current": current}


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _browser_unavailable() -> str | None:
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} is missing")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        missing.append(f"{BROWSER_DIR / 'node_modules'} has no playwright-core")
    if shutil.which("node") is None:
        missing.append("node is not on PATH")
    return "; ".join(missing) + " (run scripts/setup-browser)" if missing else None


@pytest.fixture(scope="module")
def seen(built):
    """What the browser saw, per page name: one Chromium launch for every page."""
    reason = _browser_unavailable()
    if reason:
        if _ci():
            pytest.fail(f"browser tests cannot run under CI: {reason}")
        pytest.skip(reason)
    names = ["report", "profile", "drift", "control"]
    shot = built["dir"] / "report.png"
    proc = subprocess.run(
        ["node", str(CHECK_SCRIPT), "--screenshot", str(shot), *[built["paths"][n] for n in names]],
        capture_output=True, text=True, timeout=300, cwd=BROWSER_DIR)
    if proc.returncode != 0:
        pytest.fail(f"check_report.mjs exited {proc.returncode}: {proc.stderr.strip()}")
    files = json.loads(proc.stdout)["files"]
    assert [f["file"] for f in files] == [str(Path(built["paths"][n]).resolve()) for n in names]
    out = dict(zip(names, files))
    out["screenshot"] = shot
    return out


def _classes(e) -> list[str]:
    return e["class"].split()


def _of(page, cls: str, tag: str | None = None) -> list[dict]:
    return [e for e in page["elements"] if cls in _classes(e) and (tag is None or e["tag"] == tag)]


def _by_id(page, ident: str) -> dict:
    [e] = [e for e in page["elements"] if e["id"] == ident]
    return e


def _number(text: str) -> float:
    return float(text.replace(",", "").rstrip("%s ").strip())


def _close(shown, expected) -> bool:
    """JSON read back from a data- attribute against the Python value (floats exact, since the
    attribute holds repr())."""
    if isinstance(expected, float):
        if math.isnan(expected):
            return shown == "NaN"
        return isinstance(shown, (int, float)) and float(shown) == expected
    if isinstance(expected, dict):
        return isinstance(shown, dict) and shown.keys() == expected.keys() and all(
            _close(shown[k], v) for k, v in expected.items())
    if isinstance(expected, (list, tuple)):
        return isinstance(shown, list) and len(shown) == len(expected) and all(
            _close(a, b) for a, b in zip(shown, expected))
    return shown == expected


def _psi(ref: list[int], cur: list[int], eps: float = 1e-4) -> float:
    rt, ct = sum(ref), sum(cur)
    total = 0.0
    for r, c in zip(ref, cur):
        p, q = (r / rt) or eps, (c / ct) or eps
        total += (q - p) * math.log(q / p)
    return total


# ----------------------------------------------------------------------------------------------
# Without a browser: the file itself
# ----------------------------------------------------------------------------------------------
class _StrictParser(HTMLParser):
    """Fails on an end tag that does not close the innermost open element."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
    SELF_CLOSING_OK = {"line", "rect", "path", "circle"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        assert tag in self.VOID or tag in self.SELF_CLOSING_OK, f"<{tag}/> in HTML"

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.parametrize("page", ["report", "profile", "drift"])
def test_page_is_self_contained_and_well_formed(built, page):
    text = Path(built["paths"][page]).read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    for scheme in ("http://", "https://"):
        rest = text.replace(f'xmlns="{SVG_NS}"', "")
        assert scheme not in rest, f"{page}: reference to {rest[rest.index(scheme) - 40:rest.index(scheme) + 60]!r}"
    for needle in ("<script", " src=", "@import", "url(", "<link", "<iframe", "<object"):
        assert needle not in text, f"{page} contains {needle!r}"
    parser = _StrictParser()
    parser.feed(text)
    parser.close()
    assert parser.stack == [], f"unclosed elements: {parser.stack}"
    assert "script" not in parser.tags
    assert XSS in "".join(parser.text)  # the city column's values, as text


def test_untrusted_values_are_escaped_in_the_source(built):
    text = Path(built["paths"]["report"]).read_text(encoding="utf-8")
    assert XSS not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<b>&</b>" not in text and "orders &lt;b&gt;&amp;&lt;/b&gt;" in text


def test_drift_report_without_histograms_says_how_to_get_them(built, tmp_path):
    d = quality.drift(built["reference"], built["current"])
    assert d.histograms == {}
    text = Path(d.to_html(tmp_path / "d.html")).read_text(encoding="utf-8")
    assert "histograms=True" in text and "drift-chart" not in text
    assert text.count('class="drift-row') == len(d.columns)


def test_histograms_do_not_change_the_metrics(built):
    plain = quality.drift(built["reference"], built["current"])
    assert plain.to_dict() == built["drift"].to_dict()
    assert set(built["drift"].histograms) == {c.name for c in plain if not c.skipped}


def test_private_module_names():
    """`strata.quality.drift` and `.profile` are the functions; their modules are private."""
    from strata.quality import _drift, _profile

    assert quality.drift is _drift.drift and quality.profile is _profile.profile
    assert callable(quality.drift) and callable(quality.profile)
    for name in ("strata.quality.drift", "strata.quality.profile"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(name)


# ----------------------------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------------------------
def _run(module, argv):
    parser = argparse.ArgumentParser(prog="strata")
    module.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_validate_html(built, tmp_path, capsys):
    path = str(tmp_path / "orders")
    strata.write_table(path, built["current"])
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: orders\nexpectations:\n  - {type: not_null, column: id}\n"
                     "  - {type: in_set, column: city, values: [paris, berlin, rome]}\n")
    out = tmp_path / "report.html"
    assert _run(cli_validate, ["validate", str(suite), path, "--html", str(out)]) == 1
    assert "FAIL in_set(city)" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert text.count('<tr class="result ') == 2 and path in text and 'id="table-version" data-value="0"' in text
    assert _run(cli_validate, ["validate", str(suite), path, "--format", "json", "--html", str(out)]) == 1
    json.loads(capsys.readouterr().out)  # stdout stays pure JSON
    assert _run(cli_validate, ["validate", str(suite), path, "--html", str(tmp_path / "no" / "r.html")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_cli_drift_html(built, tmp_path, capsys):
    path = str(tmp_path / "orders")
    strata.write_table(path, built["reference"])
    strata.write_table(path, built["current"], mode="overwrite")
    out = tmp_path / "drift.html"
    assert _run(cli_drift, ["drift", f"{path}@0", f"{path}@1", "--html", str(out)]) == 1
    assert "ALERT" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert text.count('<svg class="chart drift-chart"') == 6 and f"{path}@0" in text
    assert _run(cli_drift, ["drift", f"{path}@0", f"{path}@0", "--columns", "flag", "--html", str(out)]) == 0
    assert out.read_text(encoding="utf-8").count('<svg class="chart drift-chart"') == 1


# ----------------------------------------------------------------------------------------------
# In the browser
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", ["report", "profile", "drift"])
def test_no_errors_no_requests_no_script(seen, page):
    p = seen[page]
    assert p["consoleErrors"] == [] and p["pageErrors"] == []
    assert p["requests"] == [], "the report reached for the network"
    assert p["dialogs"] == [] and p["scripts"] == 0, "injected script ran"


def test_blocked_requests_are_recorded(seen):
    """The control page does load from the network: the checker must notice."""
    reqs = seen["control"]["requests"]
    assert "http://example.invalid/x.png" in reqs and "https://example.invalid/a.css" in reqs


@pytest.mark.parametrize("page", ["report", "profile", "drift"])
def test_every_chart_renders(seen, built, page):
    charts = seen[page]["charts"]
    assert charts
    for c in charts:
        assert c["width"] > 0 and c["height"] > 0, c
    prof, drift = built["profile"], built["drift"]
    hist = sum(1 for c in prof.columns.values() if c.histogram)
    tops = sum(1 for c in prof.columns.values() if not c.histogram and c.top_values)
    n = {"histogram": hist if page != "drift" else 0, "top-values": tops if page != "drift" else 0,
         "drift-chart": len(drift.histograms) if page != "profile" else 0}
    for cls, count in n.items():
        assert sum(1 for c in charts if cls in c["class"].split()) == count, cls


def test_screenshot_written(seen):
    assert seen["screenshot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_header(seen, built):
    p, r = seen["report"], built["report"]
    assert p["title"] == f"Data quality: {SUITE_NAME}"
    status = _by_id(p, "status")
    assert status["data"]["success"] == "false" and status["text"] == "FAIL" and not r.success
    for ident, value in (("row-count", r.row_count), ("evaluated", len(r.results)),
                         ("successful", r.statistics["successful"]), ("unsuccessful", r.statistics["unsuccessful"])):
        e = _by_id(p, ident)
        assert int(e["data"]["value"]) == value and int(_number(e["text"])) == value, ident
    e = _by_id(p, "elapsed")
    assert float(e["data"]["value"]) == r.elapsed_seconds
    assert _number(e["text"]) == pytest.approx(r.elapsed_seconds, rel=REL)


def test_result_rows_match_the_report(seen, built):
    p, r = seen["report"], built["report"]
    rows = _of(p, "result", "tr")
    assert len(rows) == len(r.results) == len(EXPECTATIONS)
    observed = _of(p, "observed", "td")
    counts = _of(p, "unexpected-count", "td")
    percents = _of(p, "unexpected-percent", "td")
    assert len(observed) == len(counts) == len(percents) == len(r.results)
    for i, (res, row, obs, cnt, pct) in enumerate(zip(r.results, rows, observed, counts, percents)):
        assert row["data"]["index"] == str(i) and row["data"]["type"] == res.type
        assert row["data"]["success"] == ("true" if res.success else "false")
        assert ("fail" in _classes(row)) == (not res.success)
        assert _close(json.loads(obs["data"]["observed"]), res.observed_value), (res.name, obs)
        v = res.observed_value
        if isinstance(v, float):
            assert _number(obs["text"]) == pytest.approx(v, rel=REL), res.name
        elif isinstance(v, int) and not isinstance(v, bool):
            assert _number(obs["text"]) == v
        if res.unexpected_count is None:
            assert cnt["data"]["unexpected-count"] == "" and cnt["text"] == "—"
        else:
            assert int(cnt["data"]["unexpected-count"]) == res.unexpected_count
            assert int(_number(cnt["text"])) == res.unexpected_count
            assert float(pct["data"]["unexpected-percent"]) == res.unexpected_percent
            assert _number(pct["text"]) == pytest.approx(res.unexpected_percent, rel=REL)
    # a mix of outcomes, with failing row-level ones that have samples
    assert {res.success for res in r.results} == {True, False}
    assert any(res.unexpected_count for res in r.results if not res.success)


def test_failing_samples_are_shown_as_text(seen, built):
    p, r = seen["report"], built["report"]
    samples = _of(p, "sample", "li")
    assert len(samples) == sum(len(res.unexpected_samples) for res in r.results if not res.success)
    in_set = next(res for res in r.results if res.type == "in_set")
    assert in_set.unexpected_samples and set(in_set.unexpected_samples) == {XSS}
    shown = [s["text"] for s in samples]
    assert shown.count(XSS) >= len(in_set.unexpected_samples)
    pair = next(res for res in r.results if res.type == "column_pair_less")
    for sample in pair.unexpected_samples:  # multi-column samples: every value, exactly
        assert f"qty={sample['qty']}, id={sample['id']}" in shown


def test_profile_histograms_count_every_value(seen, built):
    prof = built["profile"]
    for page in ("report", "profile"):
        p = seen[page]
        hist_charts = [c for c in p["charts"] if "histogram" in c["class"].split()]
        assert hist_charts
        for chart in hist_charts:
            col = prof[chart["column"]]
            bars = [e for e in p["elements"] if e["svg"] == chart["index"] and "bar" in _classes(e)]
            assert len(bars) == int(chart["data"]["bins"]) == len(col.histogram)
            assert [int(b["data"]["count"]) for b in bars] == [h[2] for h in col.histogram]
            assert sum(int(b["data"]["count"]) for b in bars) == col.count - col.null_count - col.nan_count
            assert [(float(b["data"]["lo"]), float(b["data"]["hi"])) for b in bars] == [h[:2] for h in col.histogram]
        amount = prof["amount"]
        assert amount.null_count > 0  # the non-null count is not just the row count


def test_profile_statistics(seen, built):
    prof = built["profile"]
    p = seen["profile"]
    stats = [e for e in p["elements"] if e["tag"] == "td" and "stat" in e["data"]]
    by = {(e["group"], e["data"]["stat"]): e for e in stats}
    for name in ("amount", "qty", "id"):
        c = prof[name]
        for key, value in (("count", c.count), ("nulls", c.null_count), ("distinct", c.distinct),
                           ("min", c.min), ("max", c.max), ("mean", c.mean), ("stdev", c.stdev),
                           *((f"q{q:g}", v) for q, v in c.quantiles.items())):
            e = by[(name, key)]
            assert float(e["data"]["value"]) == value, (name, key)
            assert _number(e["text"].split(" ")[0]) == pytest.approx(value, rel=REL), (name, key, e["text"])
    city = prof["city"]
    bars = [e for e in p["elements"] if e["group"] == "city" and "top-bar" in _classes(e)]
    assert [(json.loads(b["data"]["value"]), int(b["data"]["count"])) for b in bars] == city.top_values
    assert sum(int(b["data"]["count"]) for b in bars) == city.count - city.null_count


def test_drift_charts_match_the_report(seen, built):
    drift = built["drift"]
    for page in ("report", "drift"):
        p = seen[page]
        rows = {e["data"]["column"]: e for e in _of(p, "drift-row", "tr")}
        assert set(rows) == set(drift.columns)
        figures = _of(p, "drift-column", "figure")
        assert [f["data"]["column"] for f in figures] == list(drift.histograms)
        alerts = set()
        for fig in figures:
            name = fig["data"]["column"]
            c, bins = drift[name], drift.histograms[name]
            assert float(fig["data"]["psi"]) == c.psi == float(rows[name]["data"]["psi"])
            assert fig["data"]["alert"] == ("true" if c.drifted else "false") == rows[name]["data"]["alert"]
            [psi_text] = [e for e in p["elements"] if e["group"] == name and "psi" in _classes(e) and e["tag"] == "span"]
            assert _number(psi_text["text"]) == pytest.approx(c.psi, rel=REL)
            assert ("ALERT" in fig["text"]) == c.drifted
            [chart] = [ch for ch in p["charts"] if "drift-chart" in ch["class"].split() and ch["column"] == name]
            bars = [e for e in p["elements"] if e["svg"] == chart["index"] and "dbar" in _classes(e)]
            ref = [int(b["data"]["count"]) for b in bars if b["data"]["series"] == "reference"]
            cur = [int(b["data"]["count"]) for b in bars if b["data"]["series"] == "current"]
            assert ref == bins.reference_counts and cur == bins.current_counts
            assert sum(ref) == c.reference_count and sum(cur) == c.current_count
            assert _psi(ref, cur) == pytest.approx(c.psi, rel=1e-9, abs=1e-12), name
            if c.drifted:
                alerts.add(name)
        assert "amount" in alerts and "flag" not in alerts
