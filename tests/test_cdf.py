"""Change data feed: DELETE, UPDATE and MERGE write _change_data files when
delta.enableChangeDataFeed=true; Table.changes() reads them, or derives changes from add/remove
actions when a commit has none. Oracles: a model of the operations applied to Python rows,
delta-rs's load_cdf over the same table, and the derived path against the recorded one."""

from __future__ import annotations

import json
import os
import random
from collections import Counter

import pyarrow as pa
import pytest

import strata
from strata.errors import InvalidArgumentError, VersionNotFoundError

from conftest import assert_same_rows

CDF = {"delta.enableChangeDataFeed": "true"}
DATA_COLS = ["id", "part", "v"]


def rows_table(rows):
    return pa.table({
        "id": pa.array([r["id"] for r in rows], pa.int64()),
        "part": pa.array([r["part"] for r in rows], pa.string()),
        "v": pa.array([r["v"] for r in rows], pa.float64()),
    })


def change_rows(tbl: pa.Table, with_version=True):
    cols = DATA_COLS + ["_change_type"] + (["_commit_version"] if with_version else [])
    return tbl.select(cols)


def run_random_ops(path, seed, dv, partitioned):
    """Random DELETE/UPDATE/MERGE/append on a CDF table; returns the expected change rows."""
    rng = random.Random(seed)
    conf = dict(CDF)
    if dv:
        conf["delta.enableDeletionVectors"] = "true"
    live = {}
    expected = []

    def rec(kind, row, version):
        expected.append({**row, "_change_type": kind, "_commit_version": version})

    first = [{"id": i, "part": rng.choice("ab"), "v": float(i)} for i in range(30)]
    v = strata.write_table(path, rows_table(first), partition_by=["part"] if partitioned else None,
                           configuration=conf)
    for r in first:
        live[r["id"]] = r
        rec("insert", r, v)
    next_id = 30
    for _ in range(6):
        op = rng.choice(["delete", "update", "merge", "append"])
        t = strata.Table(path)
        if op == "delete":
            lo = rng.randrange(0, next_id)
            pred = f"id >= {lo} AND id < {lo + rng.randrange(1, 8)}"
            hit = [r for r in live.values() if eval_pred(r, pred)]
            res = t.delete(pred)
            if hit:
                for r in hit:
                    rec("delete", r, res["version"])
                    del live[r["id"]]
        elif op == "update":
            k = rng.randrange(2, 5)
            pred = f"id % {k} = 0"
            hit = [r for r in live.values() if r["id"] % k == 0]
            res = t.update(pred, set={"v": "v + 100"})
            for r in hit:
                new = {**r, "v": r["v"] + 100}
                rec("update_preimage", r, res["version"])
                rec("update_postimage", new, res["version"])
                live[r["id"]] = new
        elif op == "merge":
            ids = rng.sample(range(0, next_id + 10), 8)
            src = [{"id": i, "part": live[i]["part"] if i in live else rng.choice("ab"), "v": -float(i)} for i in ids]
            res = (t.merge(rows_table(src), on="t.id = s.id", source_alias="s", target_alias="t")
                   .when_matched_update(set={"v": "s.v"}).when_not_matched_insert_all().execute())
            for s in src:
                if s["id"] in live:
                    rec("update_preimage", live[s["id"]], res["version"])
                    rec("update_postimage", s, res["version"])
                else:
                    rec("insert", s, res["version"])
                live[s["id"]] = s
            next_id = max(next_id, max(ids) + 1)
        else:
            new = [{"id": next_id + i, "part": rng.choice("ab"), "v": 0.5} for i in range(3)]
            next_id += 3
            v = strata.write_table(path, rows_table(new))
            for r in new:
                rec("insert", r, v)
                live[r["id"]] = r
    return expected, live


def eval_pred(row, pred):
    # only the "id >= a AND id < b" shape is produced above
    parts = pred.replace("id >= ", "").replace("id < ", "").split(" AND ")
    return int(parts[0]) <= row["id"] < int(parts[1])


@pytest.mark.parametrize("dv", [False, True], ids=["copy-on-write", "deletion-vectors"])
@pytest.mark.parametrize("partitioned", [False, True], ids=["flat", "partitioned"])
@pytest.mark.parametrize("seed", [1, 2])
def test_changes_match_the_model_and_deltars(tmp_table, dv, partitioned, seed):
    expected, live = run_random_ops(tmp_table, seed, dv, partitioned)
    t = strata.Table(tmp_table)
    got = t.changes(0)
    assert_same_rows(change_rows(got), pa.Table.from_pylist(expected, schema=change_rows(got).schema), "strata vs model")
    # The table itself agrees with the model.
    assert_same_rows(t.to_arrow().select(DATA_COLS), rows_table(list(live.values())), "latest rows")
    # delta-rs reads the same feed from our _change_data files and logs.
    from deltalake import DeltaTable

    theirs = pa.table(DeltaTable(tmp_table).load_cdf(starting_version=0).read_all())
    theirs = theirs.set_column(theirs.schema.get_field_index("_commit_version"), "_commit_version",
                               theirs.column("_commit_version").cast(pa.int64()))  # delta-rs: uint64
    assert_same_rows(change_rows(theirs), change_rows(got), "delta-rs load_cdf vs strata")
    # Sub-ranges: exactly the commits in range.
    mid = t.version // 2
    part = t.changes(mid, t.version - 1)
    want = [e for e in expected if mid <= e["_commit_version"] <= t.version - 1]
    assert Counter(part.column("_commit_version").to_pylist()) == Counter(e["_commit_version"] for e in want)


def test_derived_changes_equal_recorded_ones(tmp_table):
    """A commit without cdc actions (another writer, or an older one) has its changes derived
    from add/remove and deletion vectors: stripping our cdc actions must not change the feed."""
    conf = {**CDF, "delta.enableDeletionVectors": "true"}
    strata.write_table(tmp_table, rows_table([{"id": i, "part": "a", "v": float(i)} for i in range(20)]),
                       configuration=conf)
    strata.write_table(tmp_table, rows_table([{"id": 100 + i, "part": "b", "v": 1.0} for i in range(5)]))
    t = strata.Table(tmp_table)
    t.delete("id % 3 = 0")              # deletion vectors on the first file
    strata.Table(tmp_table).delete("part = 'b'")  # the whole second file
    recorded = strata.Table(tmp_table).changes(0)
    log = os.path.join(tmp_table, "_delta_log")
    stripped = 0
    for name in sorted(os.listdir(log)):
        if not name.endswith(".json"):
            continue
        p = os.path.join(log, name)
        lines = open(p).read().splitlines()
        keep = [ln for ln in lines if "cdc" not in json.loads(ln)]
        stripped += len(lines) - len(keep)
        open(p, "w").write("\n".join(keep) + "\n")
    assert stripped >= 2
    derived = strata.Table(tmp_table).changes(0)
    assert_same_rows(change_rows(derived), change_rows(recorded), "derived vs recorded")
    assert Counter(derived.column("_change_type").to_pylist()) == {"insert": 25, "delete": 7 + 5}


def test_commit_timestamps_are_the_versions_timestamps(tmp_table):
    strata.write_table(tmp_table, rows_table([{"id": 1, "part": "a", "v": 1.0}]), configuration=CDF)
    strata.Table(tmp_table).update("id = 1", set={"v": "2"})
    t = strata.Table(tmp_table)
    ch = t.changes(0)
    hist = {h["version"]: h["timestamp"] for h in t.history()}
    for v, ts in zip(ch.column("_commit_version").to_pylist(), ch.column("_commit_timestamp").to_pylist()):
        assert ts == hist[v], (v, ts, hist[v])


def test_change_feed_errors(tmp_table):
    strata.write_table(tmp_table, rows_table([{"id": 1, "part": "a", "v": 1.0}]))
    strata.Table(tmp_table).delete("id = 1")
    with pytest.raises(InvalidArgumentError, match="change data feed was not enabled at version 0"):
        strata.Table(tmp_table).changes(0)
    strata.Table(tmp_table).set_properties(CDF)
    strata.write_table(tmp_table, rows_table([{"id": 2, "part": "a", "v": 1.0}]))
    t = strata.Table(tmp_table)
    assert t.changes(t.version).column("id").to_pylist() == [2]
    with pytest.raises(VersionNotFoundError):
        t.changes(t.version + 5)
    with pytest.raises(InvalidArgumentError):
        t.changes(-1)
