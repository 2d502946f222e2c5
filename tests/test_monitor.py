"""Run monitoring end to end: every write path records one run in <table>/_strata/runs and in the
process's Prometheus metrics, with rows in/out/rejected checked against the data written, versions
against the table's history and the newest event time against pyarrow."""

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import strata
from strata import quality
from strata.quality.monitor import metrics_text, record_run, runs, runs_schema

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def rows(ids, hours, amounts=None):
    """(id, ts = T0 + hours, amount) rows."""
    amounts = amounts if amounts is not None else [float(i) for i in ids]
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "ts": pa.array([T0 + timedelta(hours=h) for h in hours], pa.timestamp("us", tz="UTC")),
        "amount": pa.array(amounts, pa.float64()),
    })


def newest(tbl):
    return pc.max(tbl["ts"]).as_py()


def history_ops(path):
    return {h["version"]: h["operation"] for h in strata.Table(path).history()}


def parse_metrics(text):
    """{(name, frozenset(labels)): value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
        assert m, line
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(3))
    return out


def metric(parsed, name, **labels):
    return parsed.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "events")


def test_every_write_path_records_one_run(path):
    expected = []  # (operation, rows_in, rows_out, rows_rejected, newest_event)
    first = rows([1, 2, 3], [1, 5, 3])
    strata.write_table(path, first)
    expected.append(("WRITE", 3, 3, 0, newest(first)))
    more = rows([4, 5], [7, 2])
    strata.write_table(path, more)
    expected.append(("WRITE", 2, 2, 0, newest(more)))
    replaced = rows([1, 2, 3, 4], [10, 11, 9, 8])
    strata.write_table(path, replaced, mode="overwrite")
    expected.append(("WRITE", 4, 4, 0, newest(replaced)))
    source = rows([3, 4, 20, 21, 22], [30, 1, 2, 25, 3])  # 2 matched (updated), 3 inserted
    t = strata.Table(path)
    t.merge(source, on="t.id = s.id", source_alias="s", target_alias="t") \
        .when_matched_update_all().when_not_matched_insert_all().execute()
    expected.append(("MERGE", 5, 5, 0, newest(source)))
    before = strata.Table(path).to_arrow()
    matched = before.filter(pc.greater(before["id"], 20))
    strata.Table(path).update("id > 20", set={"amount": "amount * 2"})
    expected.append(("UPDATE", matched.num_rows, matched.num_rows, 0, newest(matched)))
    strata.Table(path).delete("id < 3")
    expected.append(("DELETE", 2, 0, 0, None))
    strata.Table(path).optimize()
    expected.append(("OPTIMIZE", 0, 0, 0, None))

    got = runs(path)
    assert got.schema.equals(runs_schema())
    assert got.num_rows == len(expected)
    ops_by_version = history_ops(path)
    for r, (op, n_in, n_out, n_rej, ev) in zip(got.to_pylist(), expected):
        assert (r["operation"], r["rows_in"], r["rows_out"], r["rows_rejected"]) == (op, n_in, n_out, n_rej), r
        assert r["newest_event"] == ev, r
        assert r["success"] and r["error"] is None
        assert r["source"] == "write"
        assert ops_by_version[r["version"]] in (op, "CREATE TABLE"), r
        assert r["duration_ms"] >= 0
        assert abs(r["started_at"] - datetime.now(timezone.utc)) < timedelta(minutes=5)
    assert [r["version"] for r in got.to_pylist()] == sorted(ops_by_version)  # one run per commit
    assert len(set(got["run_id"].to_pylist())) == got.num_rows
    # The runs table is a side table: its own appends are not runs and it has no runs table.
    assert not os.path.exists(os.path.join(path, "_strata", "runs", "_strata"))
    assert strata.Table(path).to_arrow().num_rows == 5  # 3, 4, 20, 21, 22: untouched by the recording


def test_metrics_sum_to_the_runs_table(path):
    for i in range(4):
        strata.write_table(path, rows([i * 10 + j for j in range(i + 1)], [i] * (i + 1)))
    strata.Table(path).delete("id >= 20")
    recorded = runs(path)
    label = recorded["table"][0].as_py()
    parsed = parse_metrics(metrics_text())
    for op in ("WRITE", "DELETE"):
        mine = recorded.filter(pc.equal(recorded["operation"], op))
        lab = {"table": label, "operation": op, "source": "write"}
        assert metric(parsed, "strata_runs_total", **lab) == mine.num_rows
        assert metric(parsed, "strata_run_rows_in_total", **lab) == pc.sum(mine["rows_in"]).as_py()
        assert metric(parsed, "strata_run_rows_out_total", **lab) == pc.sum(mine["rows_out"]).as_py()
        assert metric(parsed, "strata_run_rows_rejected_total", **lab) == 0
        assert metric(parsed, "strata_run_duration_seconds_count", **lab) == mine.num_rows
        assert metric(parsed, "strata_run_duration_seconds_bucket", le="+Inf", **lab) == mine.num_rows
        assert metric(parsed, "strata_run_duration_seconds_sum", **lab) == pytest.approx(
            pc.sum(mine["duration_ms"]).as_py() / 1000, rel=1e-6, abs=1e-6)
    newest_event = pc.max(recorded["newest_event"]).as_py()
    freshness = metric(parsed, "strata_table_freshness_seconds", table=label)
    assert freshness == pytest.approx((datetime.now(timezone.utc) - newest_event).total_seconds(), abs=60)
    assert metric(parsed, "strata_run_newest_event_timestamp_seconds", table=label, operation="WRITE",
                  source="write") == pytest.approx(newest_event.timestamp())


CONTRACT = """\
name: events
schema:
  - {name: id, type: int64, nullable: false}
expectations:
  - {type: between, column: amount, min: 0}
on_fail: ON_FAIL
"""


def test_contract_rejection_and_quarantine(path):
    strata.write_table(path, rows([1], [0]))
    quality.attach_contract(path, CONTRACT.replace("ON_FAIL", "reject"))
    bad = rows([2, 3, 4], [1, 2, 3], [5.0, -1.0, 7.0])
    with pytest.raises(strata.ExpectationFailedError):
        strata.write_table(path, bad)
    r = runs(path).to_pylist()[-1]
    assert (r["success"], r["version"], r["rows_in"], r["rows_out"], r["rows_rejected"]) == (False, None, 3, 0, 3)
    assert "between" in r["error"] and r["newest_event"] is None

    quality.attach_contract(path, CONTRACT.replace("ON_FAIL", "quarantine"))
    batch = rows([5, 6, 7, 8], [4, 9, 6, 8], [1.0, -2.0, 3.0, -4.0])
    v = strata.write_table(path, batch)
    r = runs(path).to_pylist()[-1]
    published = batch.filter(pc.greater_equal(batch["amount"], 0))
    assert (r["success"], r["version"], r["rows_in"], r["rows_out"], r["rows_rejected"]) == (True, v, 4, 2, 2)
    assert r["newest_event"] == newest(published)  # of the published rows, not the quarantined hour 9
    assert quality.quarantine(path).to_arrow().num_rows == 2
    # Neither the quarantine nor the results table recorded runs of their own.
    assert runs(path).num_rows == 3
    for side in ("quarantine", "quality_results", "runs"):
        assert not os.path.exists(os.path.join(path, "_strata", side, "_strata"))


def test_event_time_column_choice(path):
    tbl = rows([1, 2], [3, 4]).append_column("updated", pa.array([T0 + timedelta(days=9)] * 2,
                                                                  pa.timestamp("ms", tz="UTC")))
    strata.write_table(path, tbl)
    assert runs(path)["newest_event"][-1].as_py() == T0 + timedelta(hours=4)  # first timestamp column
    quality.attach_contract(path, "name: e\nsla: {freshness: {column: updated, max_age: 2h}}\n")
    strata.write_table(path, tbl)
    assert runs(path)["newest_event"][-1].as_py() == T0 + timedelta(days=9)  # the contract's SLA column
    strata.Table(path).set_properties({"strata.eventTimeColumn": "ts"})
    strata.write_table(path, tbl)
    assert runs(path)["newest_event"][-1].as_py() == T0 + timedelta(hours=4)  # the table property wins


def test_tables_can_opt_out_of_the_runs_table(path):
    strata.write_table(path, rows([1], [1]), configuration={"strata.runs.record": "false"})
    strata.write_table(path, rows([2], [2]))
    assert runs(path).num_rows == 0
    assert not os.path.exists(os.path.join(path, "_strata", "runs"))
    parsed = parse_metrics(metrics_text())
    assert metric(parsed, "strata_runs_total", table=path, operation="WRITE", source="write") == 2  # still counted


def test_unwritable_runs_table_never_breaks_a_write(path, capfd):
    strata.write_table(path, rows([1], [1]))
    runs_dir = os.path.join(path, "_strata", "runs")
    import shutil

    shutil.rmtree(runs_dir)
    with open(runs_dir, "w") as f:
        f.write("in the way")
    v = strata.write_table(path, rows([2], [2]))
    assert v == 1
    assert strata.Table(path).to_arrow().num_rows == 2
    assert "_strata/runs" in capfd.readouterr().err
    strata.Table(path).delete("id = 1")  # every path survives it
    assert strata.Table(path).version == 2


def test_record_run_for_external_writers(path):
    strata.write_table(path, rows([1], [1]))
    ev = T0 + timedelta(days=2, microseconds=17)
    record_run(path, "INGEST", source="stream:clicks", rows_in=100, rows_out=97, rows_rejected=3,
               duration_s=1.25, newest_event=ev, version=0)
    record_run(path, "INGEST", source="stream:clicks", rows_in=5, success=False, error="broker down",
               started=T0)
    got = runs(path).to_pylist()
    ingest = [r for r in got if r["operation"] == "INGEST"]
    assert len(ingest) == 2
    by_success = {r["success"]: r for r in ingest}
    ok, failed = by_success[True], by_success[False]
    assert (ok["source"], ok["rows_in"], ok["rows_out"], ok["rows_rejected"], ok["version"]) == \
        ("stream:clicks", 100, 97, 3, 0)
    assert ok["newest_event"] == ev and ok["duration_ms"] == pytest.approx(1250)
    assert failed["error"] == "broker down" and failed["started_at"] == T0 and failed["version"] is None
    parsed = parse_metrics(metrics_text())
    lab = {"table": got[0]["table"], "operation": "INGEST", "source": "stream:clicks"}
    assert metric(parsed, "strata_runs_total", **lab) == 2
    assert metric(parsed, "strata_runs_failed_total", **lab) == 1
    assert metric(parsed, "strata_run_rows_rejected_total", **lab) == 3


def test_runs_before_any_run(tmp_path):
    assert runs(str(tmp_path / "nothing")).num_rows == 0


def test_runs_table_is_a_delta_table_for_delta_rs(path):
    from deltalake import DeltaTable

    strata.write_table(path, rows([1, 2], [1, 2]))
    strata.write_table(path, rows([3], [3]))
    dt = DeltaTable(os.path.join(path, "_strata", "runs"))
    theirs = dt.to_pyarrow_table().sort_by("started_at")
    assert theirs.num_rows == 2
    assert theirs["rows_in"].to_pylist() == [2, 1]
    assert theirs["version"].to_pylist() == [0, 1]


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "strata", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cli_runs(path):
    strata.write_table(path, rows([1, 2, 3], [1, 2, 3]))
    strata.Table(path).delete("id = 2")
    out = run_cli("runs", path)
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["started_at", "operation", "source"]
    assert "DELETE" in lines[1] and "WRITE" in lines[2]  # newest first
    assert lines[-1] == "(2 runs)"
    js = [json.loads(line) for line in run_cli("runs", path, "--json", "--limit", "1").splitlines()]
    assert len(js) == 1 and js[0]["operation"] == "DELETE" and js[0]["rows_in"] == 1
    assert "runs TABLE" in run_cli("--help")
