"""The command line: every table subcommand on a real table, errors on bad input."""

import json
import os
import subprocess
import sys

import pyarrow as pa
import pytest

import strata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, ok=True):
    proc = subprocess.run([sys.executable, "-m", "strata", *args], capture_output=True, text=True, timeout=120)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture()
def table(tmp_path):
    path = str(tmp_path / "t")
    strata.write_table(path, pa.table({"id": [1, 2, 3], "country": ["FR", "DE", "FR"], "amount": [1.5, 2.5, None]}),
                       partition_by=["country"])
    strata.write_table(path, pa.table({"id": [4], "country": ["US"], "amount": [9.0]}))
    return path


def test_help_documents_every_command():
    out = run("--help").stdout
    for cmd in ("table info", "table history", "table show", "sql", "demo"):
        assert cmd in out
    for sub in ("info", "history", "show", "checkpoint"):
        assert "usage: strata table " + sub in run("table", sub, "--help").stdout


def test_info(table):
    out = run("table", "info", table).stdout
    assert "version    1" in out
    assert "rows       4" in out
    assert "partitions country" in out
    assert "amount: double" in out


def test_history_json(table):
    rows = [json.loads(line) for line in run("table", "history", table, "--json").stdout.splitlines()]
    assert [r["version"] for r in rows] == [1, 0]
    assert rows[1]["operation"] == "CREATE TABLE"
    assert rows[0]["operationMetrics"]["numOutputRows"] == "1"


def test_show_filter_columns_version(table):
    out = run("table", "show", table, "--filter", "country = 'FR'", "--columns", "id", "--format", "json").stdout
    assert sorted(json.loads(line)["id"] for line in out.splitlines()) == [1, 3]
    out = run("table", "show", table, "--version", "0", "--format", "json").stdout
    assert len(out.splitlines()) == 3
    out = run("table", "show", table, "--limit", "2", "--format", "json").stdout
    assert len(out.splitlines()) == 2


def test_sql_over_a_table(table):
    out = run("sql", f"SELECT country, count(*) AS n FROM '{table}' GROUP BY country ORDER BY country",
              "--format", "json").stdout
    assert [json.loads(line) for line in out.splitlines()] == [
        {"country": "DE", "n": 1}, {"country": "FR", "n": 2}, {"country": "US", "n": 1}]


def test_checkpoint(table):
    run("table", "checkpoint", table)
    assert os.path.exists(os.path.join(table, "_delta_log", "00000000000000000001.checkpoint.parquet"))
    assert strata.Table(table).to_arrow().num_rows == 4


def test_errors_are_one_line_and_nonzero(tmp_path, table):
    p = run("table", "info", str(tmp_path / "missing"), ok=False)
    assert p.returncode == 1
    assert "is not a Delta table" in p.stderr
    assert "Traceback" not in p.stderr
    p = run("table", "show", table, "--filter", "id >", ok=False)
    assert p.returncode == 1 and "position" in p.stderr
    p = run("table", "show", table, "--version", "99", ok=False)
    assert p.returncode == 1 and "99" in p.stderr


def test_demo_runs(tmp_path):
    out = run("demo", "--dir", str(tmp_path)).stdout
    assert "identical to strata: True" in out
    assert "refused: CHECK constraint" in out
    # MERGE of 500 corrections + 500 new rides, its change feed, and an OPTIMIZE that keeps every row
    assert "500 updated, 500 inserted" in out
    assert "update_preimage=500, update_postimage=500, insert=500" in out
    assert "rows unchanged: 121500" in out
    # The contract publishes 997 of the 1,000 late rides and quarantines the 3 from an unknown city
    assert "published 997 rows, quarantined 3:" in out
    assert "ride 130000 (rome, fare 900.0): between(fare); in_set(city)" in out
    assert "[contract rides: 1000 rows checked, 3 quarantined]" in out
    import deltalake  # the quarantined rows are not in the table other engines read

    ids = deltalake.DeltaTable(str(tmp_path / "rides")).to_pyarrow_table().column("ride_id").to_pylist()
    assert len(ids) == 121500 + 997 and 130000 not in ids
