"""Bad input: each case is a clear error (the right strata.errors class, naming the culprit) and
leaves the table exactly as it was."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import strata
from strata import errors
from conftest import assert_same_rows, copy_shared_table

LOG = "_delta_log"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def snapshot(path: str) -> dict:
    """Every file under path -> sha256 (to prove a failed call changed nothing)."""
    out = {}
    if not os.path.exists(path):
        return out
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not (root == path and d == "_strata")]  # strata's side tables (runs)
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, path)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


def make_table(path: str, commits: int = 3, partitioned: bool = False) -> pa.Table:
    """A table with `commits` appends; returns all its rows."""
    parts = []
    for i in range(commits):
        data = pa.table({"a": pa.array([i, i + 10], pa.int64()), "b": [f"s{i}", None], "g": [f"g{i % 2}", "g1"]})
        strata.write_table(path, data, partition_by=["g"] if partitioned else None)
        parts.append(data)
    return pa.concat_tables(parts)


def commit_file(path: str, v: int) -> str:
    return os.path.join(path, LOG, f"{v:020d}.json")


def rewrite_protocol(path: str, v: int, protocol: dict) -> None:
    f = commit_file(path, v)
    out = []
    for line in open(f, encoding="utf-8").read().splitlines():
        action = json.loads(line)
        if "protocol" in action:
            action = {"protocol": protocol}
        out.append(json.dumps(action))
    open(f, "w", encoding="utf-8").write("\n".join(out) + "\n")


def data_file(path: str) -> str:
    return os.path.join(path, strata.Table(path).files()[0]["path"])


# --------------------------------------------------------------------------------------------
# corrupt log
# --------------------------------------------------------------------------------------------
def test_truncated_last_commit(tmp_table):
    rows = make_table(tmp_table, 3)
    f = commit_file(tmp_table, 2)
    text = open(f, encoding="utf-8").read()
    cut = text[: len(text.rstrip("\n")) - 15]  # cut inside the last action
    open(f, "w", encoding="utf-8").write(cut)
    bad_line = cut.count("\n") + 1
    before = snapshot(tmp_table)
    with pytest.raises(errors.CorruptLogError) as ei:
        strata.Table(tmp_table)
    msg = str(ei.value)
    assert "00000000000000000002.json" in msg and f"line {bad_line}" in msg, msg
    # writing on top of a corrupt log is refused too, and commits nothing
    with pytest.raises(errors.CorruptLogError):
        strata.write_table(tmp_table, pa.table({"a": [1], "b": ["x"], "g": ["g0"]}))
    assert snapshot(tmp_table) == before
    # versions before the corrupt commit stay readable
    assert_same_rows(strata.Table(tmp_table, version=1).to_arrow(), rows.slice(0, 4))


def test_garbage_line_in_middle_commit(tmp_table):
    make_table(tmp_table, 3)
    f = commit_file(tmp_table, 1)
    n_lines = len(open(f, encoding="utf-8").read().splitlines())
    with open(f, "a", encoding="utf-8") as fh:
        fh.write('{"add": {"path": oops}\n')
    before = snapshot(tmp_table)
    with pytest.raises(errors.CorruptLogError) as ei:
        strata.Table(tmp_table).to_arrow()
    assert "00000000000000000001.json" in str(ei.value) and f"line {n_lines + 1}" in str(ei.value), str(ei.value)
    assert snapshot(tmp_table) == before


def test_gap_in_versions(tmp_table):
    make_table(tmp_table, 4)
    os.remove(commit_file(tmp_table, 2))
    before = snapshot(tmp_table)
    with pytest.raises(errors.CorruptLogError) as ei:
        strata.Table(tmp_table)
    assert "gap" in str(ei.value) and "2" in str(ei.value), str(ei.value)
    assert snapshot(tmp_table) == before


def test_first_commit_without_metadata(tmp_table):
    make_table(tmp_table, 1)
    f = commit_file(tmp_table, 0)
    lines = [x for x in open(f).read().splitlines() if "metaData" not in json.loads(x)]
    open(f, "w").write("\n".join(lines) + "\n")
    with pytest.raises(errors.CorruptLogError) as ei:
        strata.Table(tmp_table)
    assert "metadata" in str(ei.value).lower(), str(ei.value)


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------
def _split_into_multipart(path: str, version: int, parts: int) -> list[str]:
    """Replaces the classic checkpoint at `version` by a `parts`-part checkpoint."""
    log = os.path.join(path, LOG)
    single = os.path.join(log, f"{version:020d}.checkpoint.parquet")
    cp = pq.read_table(single)
    assert cp.num_rows >= parts
    names = []
    step = -(-cp.num_rows // parts)
    for i in range(parts):
        name = f"{version:020d}.checkpoint.{i + 1:010d}.{parts:010d}.parquet"
        pq.write_table(cp.slice(i * step, step), os.path.join(log, name))
        names.append(name)
    os.remove(single)
    lc = json.loads(open(os.path.join(log, "_last_checkpoint")).read())
    lc["parts"] = parts
    lc.pop("checksum", None)
    open(os.path.join(log, "_last_checkpoint"), "w").write(json.dumps(lc))
    return names


def test_multipart_checkpoint_reads_and_missing_part_is_an_error(tmp_table):
    from deltalake import DeltaTable

    rows = make_table(tmp_table, 6, partitioned=True)
    strata.Table(tmp_table).checkpoint()
    names = _split_into_multipart(tmp_table, 5, 3)
    for v in range(6):
        os.remove(commit_file(tmp_table, v))
    # complete multi-part checkpoint: strata and delta-rs both read all rows
    assert_same_rows(strata.Table(tmp_table).to_arrow(), rows, "3-part checkpoint")
    assert_same_rows(DeltaTable(tmp_table).to_pyarrow_table(), rows, "delta-rs, 3-part checkpoint")
    os.remove(os.path.join(tmp_table, LOG, names[1]))
    before = snapshot(tmp_table)
    with pytest.raises(errors.CorruptLogError) as ei:
        strata.Table(tmp_table).to_arrow()
    msg = str(ei.value)
    assert "checkpoint" in msg and ("part" in msg or names[1] in msg), msg
    assert snapshot(tmp_table) == before


def test_missing_checkpoint_part_falls_back_to_commits(tmp_table):
    """An incomplete multi-part checkpoint is not a checkpoint: with the commits still there the
    table reads from the JSON log."""
    rows = make_table(tmp_table, 6)
    strata.Table(tmp_table).checkpoint()
    names = _split_into_multipart(tmp_table, 5, 2)
    os.remove(os.path.join(tmp_table, LOG, names[0]))
    assert_same_rows(strata.Table(tmp_table).to_arrow(), rows, "incomplete checkpoint, commits present")


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_checkpoint(tmp_table, damage):
    make_table(tmp_table, 3)
    strata.Table(tmp_table).checkpoint()
    cp = os.path.join(tmp_table, LOG, "00000000000000000002.checkpoint.parquet")
    data = open(cp, "rb").read()
    open(cp, "wb").write(data[: len(data) // 2] if damage == "truncate" else b"PAR1" + b"\x00garbage" * 50)
    for v in range(3):
        os.remove(commit_file(tmp_table, v))
    before = snapshot(tmp_table)
    with pytest.raises(errors.CorruptLogError) as ei:
        strata.Table(tmp_table).to_arrow()
    assert "00000000000000000002.checkpoint.parquet" in str(ei.value), str(ei.value)
    with pytest.raises(errors.CorruptLogError):
        strata.write_table(tmp_table, pa.table({"a": [1], "b": ["x"], "g": ["g0"]}))
    assert snapshot(tmp_table) == before


@pytest.mark.parametrize("content", ["not json at all", '{"version": 99, "size": 3}', '{"version": 0, "size": 3}', ""])
def test_bad_last_checkpoint_hint_is_ignored(tmp_table, content):
    """_last_checkpoint is only a hint: garbage, pointing past the end, or stale -> still correct."""
    rows = make_table(tmp_table, 4)
    strata.Table(tmp_table, version=1).checkpoint()
    strata.Table(tmp_table).checkpoint()
    open(os.path.join(tmp_table, LOG, "_last_checkpoint"), "w").write(content)
    t = strata.Table(tmp_table)
    assert t.version == 3
    assert_same_rows(t.to_arrow(), rows)
    assert_same_rows(strata.Table(tmp_table, version=2).to_arrow(), rows.slice(0, 6))


# --------------------------------------------------------------------------------------------
# data files
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_damaged_data_file(tmp_table, damage):
    make_table(tmp_table, 2)
    f = data_file(tmp_table)
    data = open(f, "rb").read()
    if damage == "truncate":
        open(f, "wb").write(data[: len(data) // 2])
    elif damage == "garbage":
        open(f, "wb").write(b"not parquet" * 20)
    else:
        os.remove(f)
    before = snapshot(tmp_table)
    t = strata.Table(tmp_table)  # the log is fine: opening works
    assert t.version == 1
    with pytest.raises(errors.CorruptLogError) as ei:
        t.to_arrow()
    assert os.path.basename(f) in str(ei.value), str(ei.value)
    assert snapshot(tmp_table) == before


# --------------------------------------------------------------------------------------------
# protocol
# --------------------------------------------------------------------------------------------
def test_unknown_reader_feature(tmp_table):
    make_table(tmp_table, 2)
    rewrite_protocol(tmp_table, 0, {"minReaderVersion": 3, "minWriterVersion": 7,
                                    "readerFeatures": ["deletionVectors", "fancyReaderThing"],
                                    "writerFeatures": ["deletionVectors", "fancyReaderThing"]})
    before = snapshot(tmp_table)
    with pytest.raises(errors.UnsupportedFeatureError, match="fancyReaderThing"):
        strata.Table(tmp_table)
    with pytest.raises(errors.UnsupportedFeatureError, match="fancyReaderThing"):
        strata.write_table(tmp_table, pa.table({"a": [1], "b": ["x"], "g": ["g0"]}))
    assert snapshot(tmp_table) == before


def test_unknown_writer_feature_reads_but_refuses_writes(tmp_table):
    rows = make_table(tmp_table, 2)
    rewrite_protocol(tmp_table, 0, {"minReaderVersion": 1, "minWriterVersion": 7, "writerFeatures": ["fancyWriterThing"]})
    assert_same_rows(strata.Table(tmp_table).to_arrow(), rows)
    before = snapshot(tmp_table)
    with pytest.raises(errors.UnsupportedFeatureError, match="fancyWriterThing"):
        strata.write_table(tmp_table, pa.table({"a": [1], "b": ["x"], "g": ["g0"]}))
    with pytest.raises(errors.UnsupportedFeatureError, match="fancyWriterThing"):
        strata.Table(tmp_table).checkpoint()
    assert snapshot(tmp_table) == before


def test_reader_version_too_new(tmp_table):
    make_table(tmp_table, 1)
    rewrite_protocol(tmp_table, 0, {"minReaderVersion": 4, "minWriterVersion": 7, "readerFeatures": [], "writerFeatures": []})
    with pytest.raises(errors.UnsupportedFeatureError, match="reader version 4"):
        strata.Table(tmp_table)


# --------------------------------------------------------------------------------------------
# not a table
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["missing", "empty_dir", "empty_log", "file", "log_dir_itself", "parquet_only"])
def test_not_a_table(tmp_path, kind):
    p = tmp_path / "x"
    if kind == "empty_dir":
        p.mkdir()
    elif kind == "empty_log":
        (p / LOG).mkdir(parents=True)
    elif kind == "file":
        p.write_text("hello")
    elif kind == "log_dir_itself":
        make_table(str(p), 1)
        p = p / LOG
    elif kind == "parquet_only":
        p.mkdir()
        pq.write_table(pa.table({"a": [1]}), p / "part-0.parquet")
    before = snapshot(str(p)) if p.is_dir() else None
    with pytest.raises(errors.NotATableError) as ei:
        strata.Table(str(p))
    assert str(p) in str(ei.value)
    assert isinstance(ei.value, FileNotFoundError)
    if before is not None:
        assert snapshot(str(p)) == before


# --------------------------------------------------------------------------------------------
# writes with bad arguments or data
# --------------------------------------------------------------------------------------------
def test_schema_mismatch_on_append(tmp_table):
    make_table(tmp_table, 2)
    before = snapshot(tmp_table)
    with pytest.raises(errors.SchemaMismatchError) as ei:
        strata.write_table(tmp_table, pa.table({"a": [1], "b": [2], "g": ["g0"]}))
    msg = str(ei.value)
    assert "'b'" in msg and "string" in msg and ("int64" in msg or "long" in msg), msg
    with pytest.raises(errors.SchemaMismatchError) as ei:
        strata.write_table(tmp_table, pa.table({"a": [1], "b": ["x"], "g": ["g0"], "new": [1.5]}))
    assert "'new'" in str(ei.value)
    with pytest.raises(errors.SchemaMismatchError) as ei:
        strata.write_table(tmp_table, pa.table({"a": pa.array([1.5]), "b": ["x"], "g": ["g0"]}), mode="overwrite")
    assert "'a'" in str(ei.value)
    assert strata.Table(tmp_table).version == 1
    assert snapshot(tmp_table) == before


def test_bad_partition_column(tmp_table):
    with pytest.raises((errors.SchemaMismatchError, errors.InvalidArgumentError)) as ei:
        strata.write_table(tmp_table, pa.table({"a": [1]}), partition_by=["zz"])
    assert "'zz'" in str(ei.value)
    assert not os.path.exists(os.path.join(tmp_table, LOG))


@pytest.mark.parametrize(
    "expr,pos",
    [("a >", 4), ("a = = 1", 5), ("(a > 1", 7), ("b = 'unterminated", 5), ("a > 1)", 6), ("a >< 1", 4)],
)
def test_bad_filter_syntax_names_position(tmp_table, expr, pos):
    make_table(tmp_table, 1)
    t = strata.Table(tmp_table)
    for call in (lambda: t.to_arrow(filter=expr), lambda: t.scan_plan(expr)):
        with pytest.raises(errors.InvalidArgumentError) as ei:
            call()
        assert f"position {pos}" in str(ei.value), str(ei.value)


def test_unknown_column_in_filter_and_columns(tmp_table):
    make_table(tmp_table, 1)
    t = strata.Table(tmp_table)
    with pytest.raises(errors.InvalidArgumentError, match="'nope'"):
        t.to_arrow(filter="nope > 1")
    with pytest.raises(errors.InvalidArgumentError, match="'nope'"):
        t.scan_plan("a > 1 and nope = 'x'")
    with pytest.raises(errors.InvalidArgumentError, match="'nope'"):
        t.to_arrow(columns=["a", "nope"])
    with pytest.raises(errors.InvalidArgumentError):
        t.to_arrow(filter="a + 'x' > 1")  # does not type-check


def test_replace_where_errors(tmp_table):
    make_table(tmp_table, 1)
    before = snapshot(tmp_table)
    data = pa.table({"a": [1], "b": ["x"], "g": ["g0"]})
    with pytest.raises(errors.InvalidArgumentError):
        strata.write_table(tmp_table, data, replace_where="a > 0")  # needs mode="overwrite"
    with pytest.raises(errors.InvalidArgumentError, match="position"):
        strata.write_table(tmp_table, data, mode="overwrite", replace_where="a >")
    with pytest.raises(errors.InvalidArgumentError, match="'nope'"):
        strata.write_table(tmp_table, data, mode="overwrite", replace_where="nope = 1")
    assert snapshot(tmp_table) == before


# --------------------------------------------------------------------------------------------
# time travel
# --------------------------------------------------------------------------------------------
def test_time_travel_errors(tmp_table):
    make_table(tmp_table, 3)
    with pytest.raises(errors.VersionNotFoundError) as ei:
        strata.Table(tmp_table, version=99)
    assert "99" in str(ei.value) and "2" in str(ei.value)
    with pytest.raises((errors.VersionNotFoundError, errors.InvalidArgumentError)):
        strata.Table(tmp_table, version=-1)
    first = strata.Table(tmp_table, version=0).timestamp
    with pytest.raises(errors.VersionNotFoundError):
        strata.Table(tmp_table, as_of=first - dt.timedelta(seconds=1))
    with pytest.raises(errors.VersionNotFoundError):
        strata.Table(tmp_table, as_of="1999-01-01")
    with pytest.raises(errors.InvalidArgumentError):
        strata.Table(tmp_table, as_of="not a time")
    with pytest.raises(errors.InvalidArgumentError):
        strata.Table(tmp_table, version=1, as_of=first)


def test_time_travel_to_vacuumed_history(tmp_path):
    """A shared table whose early commits are gone: old versions are VersionNotFound."""
    p = copy_shared_table("checkpoints_vacuumed", tmp_path / "t")
    with pytest.raises(errors.VersionNotFoundError, match="cannot be reconstructed"):
        strata.Table(p, version=2)
    assert strata.Table(p, version=5).version == 5


# --------------------------------------------------------------------------------------------
# table properties and write modes
# --------------------------------------------------------------------------------------------
def test_unknown_table_property(tmp_table):
    with pytest.raises(errors.InvalidArgumentError, match="delta.notAThing"):
        strata.write_table(tmp_table, pa.table({"a": [1]}), configuration={"delta.notAThing": "1"})
    assert not os.path.exists(os.path.join(tmp_table, LOG))
    with pytest.raises(errors.InvalidArgumentError, match="delta.appendOnly"):
        strata.write_table(tmp_table, pa.table({"a": [1]}), configuration={"delta.appendOnly": "maybe"})
    assert not os.path.exists(os.path.join(tmp_table, LOG))
    # on an existing table: nothing changes
    make_table(tmp_table, 1)
    before = snapshot(tmp_table)
    with pytest.raises(errors.InvalidArgumentError, match="delta.notAThing"):
        strata.write_table(tmp_table, pa.table({"a": [1], "b": ["x"], "g": ["g0"]}), configuration={"delta.notAThing": "1"})
    assert snapshot(tmp_table) == before


def test_custom_non_delta_property_is_kept(tmp_table):
    strata.write_table(tmp_table, pa.table({"a": [1]}), configuration={"myapp.owner": "me"})
    assert strata.Table(tmp_table).properties.get("myapp.owner") == "me"


@pytest.mark.parametrize("exists", [False, True])
def test_unknown_write_mode(tmp_table, exists):
    if exists:
        make_table(tmp_table, 1)
    before = snapshot(tmp_table)
    with pytest.raises(errors.InvalidArgumentError, match="upsert"):
        strata.write_table(tmp_table, pa.table({"a": [1], "b": ["x"], "g": ["g0"]}), mode="upsert")
    with pytest.raises(errors.InvalidArgumentError, match="bogus"):
        strata.write_table(tmp_table, pa.table({"a": [1], "b": ["x"], "g": ["g0"]}), schema_mode="bogus")
    assert snapshot(tmp_table) == before


def test_error_and_ignore_modes_on_existing_table(tmp_table):
    rows = make_table(tmp_table, 2)
    before = snapshot(tmp_table)
    data = pa.table({"a": [1], "b": ["x"], "g": ["g0"]})
    with pytest.raises(errors.StrataError, match="exists"):
        strata.write_table(tmp_table, data, mode="error")
    strata.write_table(tmp_table, data, mode="ignore")
    assert snapshot(tmp_table) == before
    assert strata.Table(tmp_table).version == 1
    assert_same_rows(strata.Table(tmp_table).to_arrow(), rows)


def test_unwritable_input_type(tmp_table):
    with pytest.raises(errors.InvalidArgumentError, match="int"):
        strata.write_table(tmp_table, 42)
    assert not os.path.exists(tmp_table)
