"""RESTORE, VACUUM and table properties through the Python API and the CLI; delta-rs reads
every result."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pyarrow as pa
import pytest
from conftest import assert_same_rows, deltars_read

import strata


def ints(start: int, n: int) -> pa.Table:
    return pa.table({"x": pa.array(range(start, start + n), pa.int64())})


@pytest.fixture()
def table(tmp_path) -> str:
    path = str(tmp_path / "t")
    strata.write_table(path, ints(0, 10))
    strata.write_table(path, ints(10, 5))
    strata.write_table(path, ints(100, 3), mode="overwrite")
    return path


def test_restore_by_version_and_timestamp(table):
    m = strata.Table(table).restore(version=1)
    assert m == {"version": 3, "restored_from": 1, "files_added": 2, "files_removed": 1}
    assert_same_rows(strata.Table(table).to_arrow(), ints(0, 15))
    assert_same_rows(deltars_read(table), ints(0, 15))
    assert strata.Table(table).history(limit=1)[0]["operation"] == "RESTORE"
    ts = strata.Table(table, version=0).timestamp
    assert strata.Table(table).restore(as_of=ts)["restored_from"] == 0
    assert_same_rows(deltars_read(table), ints(0, 10))
    with pytest.raises(strata.VersionNotFoundError):
        strata.Table(table).restore(version=42)


def test_vacuum_dry_run_retention_and_orphans(table):
    t = strata.Table(table)
    with pytest.raises(strata.InvalidArgumentError, match="deletedFileRetentionDuration"):
        t.vacuum(retention_hours=0)
    orphan = os.path.join(table, "part-orphan-from-a-crash.parquet")
    with open(orphan, "wb") as f:
        f.write(b"x")
    assert t.vacuum() == []  # nothing is older than a week
    os.utime(orphan, (os.path.getmtime(orphan) - 60, os.path.getmtime(orphan) - 60))  # a minute old
    time.sleep(0.02)  # "older than 0 hours" is strict: let the fixture's files age past this millisecond
    would = t.vacuum(retention_hours=0, dry_run=True, force=True)
    assert "part-orphan-from-a-crash.parquet" in would and len(would) == 3
    assert_same_rows(strata.Table(table, version=0).to_arrow(), ints(0, 10))  # dry run deleted nothing
    assert sorted(t.vacuum(retention_hours=0, force=True)) == sorted(would)
    assert_same_rows(strata.Table(table).to_arrow(), ints(100, 3))
    assert_same_rows(deltars_read(table), ints(100, 3))
    with pytest.raises(strata.VersionNotFoundError, match="already removed"):
        strata.Table(table).restore(version=0)


def test_set_properties(table):
    t = strata.Table(table)
    v = t.set_properties({"delta.appendOnly": True})
    assert strata.Table(table).properties["delta.appendOnly"] == "true" and v == 3
    with pytest.raises(strata.InvalidArgumentError):
        strata.write_table(table, ints(0, 1), mode="overwrite")
    with pytest.raises(strata.InvalidArgumentError):
        t.set_properties({"delta.enableChangeDataFeed": "yes"})
    with pytest.raises(strata.ExpectationFailedError, match="small"):
        t.set_properties({"delta.constraints.small": "x < 101"})
    t.set_properties({"delta.constraints.big": "x >= 100"})
    with pytest.raises(strata.ExpectationFailedError, match="big"):
        strata.write_table(table, ints(0, 1))
    assert_same_rows(deltars_read(table), ints(100, 3))


def test_cli_vacuum_restore_set_property(table):
    def run(*args):
        p = subprocess.run([sys.executable, "-m", "strata", "table", *args], capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        return p.stdout

    assert "restored version 0" in run("restore", table, "--to-version", "0")
    assert "would delete 0 files" in run("vacuum", table, "--dry-run")
    assert "delta.checkpointInterval=10" in run("set-property", table, "delta.checkpointInterval=10")
    assert strata.Table(table).properties["delta.checkpointInterval"] == "10"
