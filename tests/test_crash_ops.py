"""Crash safety of MERGE and OPTIMIZE: a process applying a deterministic sequence of upserts and
compactions (table_ops_proc.py) is killed with SIGKILL at random moments. After every kill the
table must be at its last committed version with exactly the rows the committed operations imply
(strata and delta-rs, every version), and the files of the interrupted operation, never
referenced by the log, are left for VACUUM: not removed within the retention period, removed
after it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import strata  # noqa: E402
import table_ops_proc as ops  # noqa: E402

from conftest import deltars_read  # noqa: E402

ROUNDS = 12
BUDGET_S = 40.0


def rows_of(tbl) -> dict[int, tuple[str, int]]:
    return {r["id"]: (r["part"], r["v"]) for r in tbl.to_pylist()}


def referenced_files(table: str) -> set[str]:
    """Every data file any commit ever added (paths relative to the table)."""
    from urllib.parse import unquote

    out = set()
    log = os.path.join(table, "_delta_log")
    for name in os.listdir(log):
        if name.endswith(".json") and not name.startswith("."):
            for line in open(os.path.join(log, name)):
                a = json.loads(line)
                if "add" in a:
                    out.add(unquote(a["add"]["path"]))
    return out


def merges_by_version(table: str) -> list[int]:
    """For each version, how many MERGE commits it includes."""
    hist = sorted(strata.Table(table).history(), key=lambda h: h["version"])
    out, n = [], 0
    for h in hist:
        n += h["operation"] == "MERGE"
        out.append(n)
    return out


def data_files(table: str) -> set[str]:
    out = set()
    for root, dirs, files in os.walk(table):
        dirs[:] = [d for d in dirs if d not in ("_delta_log", "_strata")]
        for f in files:
            if f.endswith(".parquet"):
                out.add(os.path.relpath(os.path.join(root, f), table))
    return out


@pytest.mark.parametrize("dv", [False, True], ids=["copy-on-write", "deletion-vectors"])
def test_kill9_during_merge_and_optimize(tmp_path, dv):
    table = str(tmp_path / "t")
    conf = {"delta.enableDeletionVectors": "true"} if dv else None
    strata.write_table(table, ops.initial(), partition_by="part", configuration=conf)
    rng = random.Random(1234 + dv)
    start = time.time()
    rnd = -1
    # ROUNDS kills, then more (within the budget) until one has landed while an operation was
    # writing files: whether a given kill does is up to the scheduler.
    while True:
        rnd += 1
        if time.time() - start > BUDGET_S:
            break
        if rnd >= ROUNDS and data_files(table) - referenced_files(table):
            break
        merges_before = merges_by_version(table)
        latest = strata.Table(table).version
        proc = subprocess.Popen([sys.executable, os.path.join(_HERE, "table_ops_proc.py"), table,
                                 "--start", str(merges_before[latest] + 1)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        out = proc.stdout.read()
        proc.wait(timeout=10)
        merges = merges_by_version(table)
        t = strata.Table(table)
        # Every operation the process finished is in the log at the version it reported; at most
        # one more (finished but killed before it could report) follows.
        reported = [line.split() for line in out.splitlines() if line.strip()]
        for fields in reported:
            v = int(fields[-1])
            if fields[0] == "merge":
                assert merges[v] == int(fields[1]), f"merge {fields[1]} reported version {v}"
            elif v >= 0:
                assert merges[v] == merges[v - 1], f"optimize at version {v} changed the merge count"
        last_reported = max([int(f[-1]) for f in reported if int(f[-1]) >= 0], default=latest)
        assert t.version - last_reported <= 1, "more than one unreported commit"
        # Rows: exactly the committed merges, at the new versions, in strata and delta-rs.
        for v in sorted({t.version, latest, max(0, t.version - 1)}):
            want = ops.model(merges[v])
            got = rows_of(strata.Table(table, version=v).to_arrow())
            assert got == want, f"round {rnd}: version {v} != model (diff {len(set(got.items()) ^ set(want.items()))})"
            theirs = rows_of(deltars_read(table, v))
            assert theirs == want, f"round {rnd}: delta-rs at version {v} != model"
    # Orphans: files on disk no commit references. VACUUM keeps them within the retention period
    # (they may belong to a running writer) and removes them after it.
    orphans = data_files(table) - referenced_files(table)
    assert orphans, "no kill landed while an operation was writing files; revisit the kill schedule"
    t = strata.Table(table)
    assert not set(t.vacuum(retention_hours=168, dry_run=True)) & orphans
    later = set(t.vacuum(retention_hours=0, dry_run=True, force=True))
    assert orphans <= later, f"orphans not vacuumable after retention: {sorted(orphans - later)[:3]}"
    before = rows_of(t.to_arrow())
    t.vacuum(retention_hours=0, force=True)
    assert not (data_files(table) - referenced_files(table))
    assert rows_of(strata.Table(table).to_arrow()) == before == ops.model(merges_by_version(table)[t.version])
