"""Concurrent writers on one Delta table: processes (writer_proc.py) and threads.

Every check reads the table three ways: strata, delta-rs, and a replay of the _delta_log JSON by
hand with the data files read by pyarrow (writer_proc.LogReplay)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "python"))
sys.path.insert(0, _HERE)

import pyarrow as pa  # noqa: E402

import strata  # noqa: E402
import writer_proc as wp  # noqa: E402
from strata.errors import CommitConflictError  # noqa: E402

PARTS = ["a", "b", "c"]
PROC_TIMEOUT = 45.0


def _create(table: str, configuration=None) -> int:
    return strata.write_table(table, wp.batch("init", 0, 6, PARTS), partition_by="part",
                              configuration=configuration)


def _run_writers(tmp_path, table: str, specs: list[dict], readers=None) -> list[dict]:
    """Starts one writer_proc per spec, releases them together, waits (bounded); returns all events.
    readers: optional callable run in this process (in a loop) while the writers work."""
    go = str(tmp_path / "go")
    procs = []
    try:
        for s in specs:
            report = str(tmp_path / f"report-{s['wid']}.jsonl")
            procs.append(wp.spawn(table, report=report, go_file=go, **s))
        wp.wait_ready(procs, timeout=PROC_TIMEOUT)
        with open(go, "w"):
            pass
        deadline = time.time() + PROC_TIMEOUT
        if readers is not None:
            while any(p.poll() is None for p in procs) and time.time() < deadline:
                readers()
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"writer {p.args} did not finish within {PROC_TIMEOUT}s")
        for p in procs:
            err = p.stderr.read().decode()
            assert p.returncode == 0, f"writer {p.args} exited {p.returncode}: {err}"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
    events = []
    for s in specs:
        events += wp.read_events(str(tmp_path / f"report-{s['wid']}.jsonl"))
    return events


def _check_log_shape(table: str, n_commits: int) -> int:
    """Versions 0..n_commits-1 exist, nothing else, no temp files. Returns the latest version."""
    versions, others = wp.log_listing(table)
    assert versions == list(range(n_commits)), f"log versions not contiguous: {versions}"
    assert not wp.temp_files(table), f"leftover temp files: {wp.temp_files(table)}"
    allowed = ("checkpoint.parquet", "_last_checkpoint", ".crc")
    assert all(o.endswith(allowed) for o in others), f"unexpected _delta_log entries: {others}"
    return n_commits - 1


def _check_history(table: str, latest: int, replay: wp.LogReplay) -> list[dict]:
    hist = strata.Table(table).history()
    assert [h["version"] for h in hist] == list(range(latest, -1, -1))
    for h in hist:
        info = replay.commits[h["version"]]["info"]
        assert h["operation"] == info["operation"]
        assert h["operationParameters"] == info.get("operationParameters", {})
    return hist


def _check_all_versions(table: str, replay: wp.LogReplay, latest: int) -> None:
    for v in range(latest + 1):
        wp.check_version(table, replay, v, delta_rs=True)


def _check_ok_commits(replay: wp.LogReplay, events: list[dict], rows: int) -> dict[int, dict]:
    """Each reported commit's version is unique and its adds hold exactly that write's batch.
    Returns version -> ok event."""
    by_version: dict[int, dict] = {}
    for e in events:
        if e["ev"] != "ok":
            continue
        v = e["version"]
        assert v not in by_version, f"two writers were told they committed version {v}: {by_version[v]} and {e}"
        by_version[v] = e
        assert e["rows"] == rows
        want = wp.event_rows(e)
        got = replay.added_rows(v)
        assert got == want, f"commit {v} ({e}) adds rows other than its batch: {wp._diff(got, want)}"
    return by_version


def test_concurrent_appends_processes(tmp_path):
    """6 processes x 15 blind appends at once (each writer to its own partition, so one file per
    commit keeps the all-versions check fast); a reader in this process meanwhile. A checkpoint
    every 25 commits is written under contention."""
    table = str(tmp_path / "t")
    _create(table, configuration={"delta.checkpointInterval": "25"})
    n_writers, count, rows = 6, 15, 6
    seen = []

    def reader():
        # A snapshot is consistent: every commit so far is a 6-row append, so rows == 6 * (v + 1).
        t = strata.Table(table)
        n = t.to_arrow().num_rows
        assert n == rows * (t.version + 1), f"snapshot at version {t.version} has {n} rows"
        assert not seen or t.version >= seen[-1], "latest version went backwards"
        seen.append(t.version)

    specs = [dict(wid=f"w{i}", mode="append", count=count, rows=rows, parts=PARTS[i % 3]) for i in range(n_writers)]
    events = _run_writers(tmp_path, table, specs, readers=reader)

    assert not [e for e in events if e["ev"] in ("error", "conflict")], "blind appends must not fail or conflict"
    ok = [e for e in events if e["ev"] == "ok"]
    assert len(ok) == n_writers * count
    latest = _check_log_shape(table, 1 + len(ok))
    assert strata.Table(table).version == latest

    replay = wp.LogReplay(table)
    replay.advance_to(latest)
    _check_ok_commits(replay, events, rows)
    hist = _check_history(table, latest, replay)
    assert all(h["operationParameters"]["mode"] == "Append" for h in hist)
    _check_all_versions(table, replay, latest)

    # No row lost or duplicated: every (writer, seq, row) exactly once in the latest version.
    final = wp.strata_rows(table)[1]
    want = Counter(wp.expected_rows("init", 0, "append", None, 6, PARTS))
    for i in range(n_writers):
        for s in range(count):
            want.update(wp.expected_rows(f"w{i}", s, "append", None, rows, [PARTS[i % 3]]))
    assert final == want, wp._diff(final, want)
    assert wp.delta_rs_rows(table)[1] == want
    assert seen, "the concurrent reader never ran"


def test_concurrent_appenders_and_overwriters(tmp_path):
    """3 appenders, 2 replace_where overwriters (partition a, or a/b), 1 full overwriter at once,
    with a checkpoint every 10 commits. Conflicted writers leave nothing; the final state equals a
    serial, WriteSerializable replay of the committed operations."""
    table = str(tmp_path / "t")
    _create(table, configuration={"delta.checkpointInterval": "10"})
    rows = 6
    specs = [dict(wid=f"app{i}", mode="append", count=15, rows=rows) for i in range(3)]
    specs += [dict(wid="rep_a", mode="replace", count=15, rows=rows, parts="a"),
              dict(wid="rep_ab", mode="replace", count=15, rows=rows, parts="a,b", seed=7),
              dict(wid="full", mode="overwrite", count=8, rows=rows, extra=["--pause-max", "0.02"])]
    events = _run_writers(tmp_path, table, specs)
    assert not [e for e in events if e["ev"] == "error"], [e for e in events if e["ev"] == "error"]
    ok = [e for e in events if e["ev"] == "ok"]
    conflicts = [e for e in events if e["ev"] == "conflict"]
    assert all(e["op"] in ("replace", "overwrite") for e in conflicts), "an append conflicted"
    assert len(ok) + len(conflicts) == 3 * 15 + 2 * 15 + 8
    latest = _check_log_shape(table, 1 + len(ok))

    replay = wp.LogReplay(table)
    replay.advance_to(latest)
    by_version = _check_ok_commits(replay, events, rows)
    assert sorted(by_version) == list(range(1, latest + 1)), "a commit no writer reported, or a reported one missing"

    # Conflicted writes left no commit: their tagged rows appear in no add action anywhere.
    lost = {(e["writer"], e["seq"]) for e in conflicts}
    for v in range(latest + 1):
        tags = {(r[1], r[2]) for r in replay.added_rows(v)}
        assert not (tags & lost), f"commit {v} holds rows of a write that reported CommitConflictError"

    # History agrees with what each writer did.
    hist = {h["version"]: h for h in _check_history(table, latest, replay)}
    for v, e in by_version.items():
        params = hist[v]["operationParameters"]
        assert hist[v]["operation"] == "WRITE"
        assert params["mode"] == ("Append" if e["op"] == "append" else "Overwrite")
        assert params.get("predicate") == (f"part = '{e['part']}'" if e["op"] == "replace" else None)
        assert replay.commits[v]["info"]["isBlindAppend"] == (e["op"] == "append")

    # Serial replay of the committed operations (rows only, not the log's add/remove actions):
    # an overwrite at v that read version r removes the matching rows visible at r (which must all
    # still be there at v-1, or it should have conflicted) and adds its batch; an append adds its batch.
    model = [set(replay.rows(0))]
    for v in range(1, latest + 1):
        e = by_version[v]
        r = replay.commits[v]["info"]["readVersion"]
        assert 0 <= r < v
        state = set(model[v - 1])
        if e["op"] != "append":
            gone = {x for x in model[r] if e["op"] == "overwrite" or x[0] == e["part"]}
            assert gone <= state, f"commit {v} ({e}) overwrote rows that a concurrent commit already removed"
            # Whatever matches and survives was added after r, by blind appends (WriteSerializable).
            survivors = {x for x in state - gone if e["op"] == "overwrite" or x[0] == e["part"]}
            for x in survivors:
                added_at = [u for u in range(r + 1, v) if x in replay.added_rows(u)]
                assert added_at and all(by_version[u]["op"] == "append" for u in added_at), (
                    f"commit {v} ({e}, read version {r}) kept row {x} it should have replaced")
            state -= gone
        state |= set(wp.event_rows(e))
        model.append(state)
    for v in range(latest + 1):
        assert set(replay.rows(v)) == model[v], f"log replay and operation replay differ at version {v}"
        assert sum(replay.rows(v).values()) == len(model[v]), f"duplicate rows at version {v}"
    _check_all_versions(table, replay, latest)
    assert any(o.endswith("checkpoint.parquet") for o in wp.log_listing(table)[1]) or latest < 10
    print(f"\nmixed: {latest} commits, {len(conflicts)} conflicts")


def test_concurrent_create(tmp_path):
    """4 processes write to a path with no table yet: one creates version 0; the others either
    append after it or get CommitConflictError and leave no commit."""
    table = str(tmp_path / "t")
    specs = [dict(wid=f"c{i}", mode="append", count=1, rows=3) for i in range(4)]
    events = _run_writers(tmp_path, table, specs)
    assert not [e for e in events if e["ev"] == "error"], events
    ok = [e for e in events if e["ev"] == "ok"]
    assert [e["version"] for e in ok if e["version"] == 0] == [0]
    latest = _check_log_shape(table, len(ok))
    replay = wp.LogReplay(table)
    replay.advance_to(latest)
    _check_ok_commits(replay, events, 3)
    want = Counter()
    for e in ok:
        want.update(wp.expected_rows(e["writer"], e["seq"], "append", None, 3, PARTS))
    _check_all_versions(table, replay, latest)
    assert wp.strata_rows(table)[1] == want


def test_concurrent_appends_threads(tmp_path):
    """5 threads x 12 write_table appends in this process, released by a barrier, with a reader
    thread checking snapshot consistency."""
    table = str(tmp_path / "t")
    _create(table)
    n_threads, count, rows = 5, 12, 6
    barrier = threading.Barrier(n_threads + 1)
    results: dict[tuple, int] = {}
    errors: list[BaseException] = []
    done = threading.Event()
    reads = []

    def writer(i):
        try:
            barrier.wait(timeout=30)
            for s in range(count):
                results[(f"t{i}", s)] = strata.write_table(table, wp.batch(f"t{i}", s, rows, [PARTS[i % 3]]))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def reader():
        try:
            barrier.wait(timeout=30)
            while not done.is_set() and len(reads) < 500:
                t = strata.Table(table)
                n = t.to_arrow().num_rows
                assert n == rows * (t.version + 1), f"snapshot at version {t.version} has {n} rows"
                reads.append(t.version)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(n_threads)]
    rt = threading.Thread(target=reader, daemon=True)
    for t in threads:
        t.start()
    rt.start()
    for t in threads:
        t.join(timeout=PROC_TIMEOUT)
    done.set()
    rt.join(timeout=10)
    assert not any(t.is_alive() for t in threads + [rt]), "a thread hung"
    assert not errors, errors
    assert len(results) == n_threads * count
    versions = sorted(results.values())
    assert versions == list(range(1, n_threads * count + 1)), "duplicate or missing versions"
    assert reads == sorted(reads)
    latest = _check_log_shape(table, 1 + n_threads * count)
    replay = wp.LogReplay(table)
    replay.advance_to(latest)
    for (w, s), v in results.items():
        assert replay.added_rows(v) == wp.expected_rows(w, s, "append", None, rows, [PARTS[int(w[1:]) % 3]])
    _check_all_versions(table, replay, latest)


def test_write_releases_gil(tmp_path):
    """A pure-Python thread keeps running while write_table works (the GIL is released)."""
    table = str(tmp_path / "t")
    n = 3_000_000  # large enough that the write takes a measurable time
    big = pa.table({"part": pa.array(["a", "b", "c"] * (n // 3)), "writer": pa.array(["g"] * n),
                    "seq": pa.array([0] * n), "row": pa.array(range(n))}, schema=wp.SCHEMA)
    strata.write_table(table, wp.batch("init", 0, 6, PARTS), partition_by="part")
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin, daemon=True)
    t.start()
    try:
        time.sleep(0.2)
        c0, t0 = counter[0], time.perf_counter()
        time.sleep(0.2)  # baseline: the spinner alone (this thread sleeps, GIL free)
        rate = (counter[0] - c0) / (time.perf_counter() - t0)
        c0, t0 = counter[0], time.perf_counter()
        strata.write_table(table, big)
        elapsed = time.perf_counter() - t0
        progressed = counter[0] - c0
    finally:
        stop.set()
        t.join(timeout=5)
    assert elapsed > 0.05, "write too fast to tell"
    assert progressed > 0.2 * rate * elapsed, (
        f"spinner advanced {progressed} in {elapsed:.3f}s vs {rate:.0f}/s alone: GIL held during write")


def test_conflicting_overwrite_leaves_no_commit(tmp_path):
    """4 processes x 10 full overwrites: an overwrite whose read files another commit removed
    raises CommitConflictError and commits nothing; the committed ones form a serial history.
    Then two threads race full overwrites (up to 50 tries) until one is refused."""
    table = str(tmp_path / "t")
    _create(table)
    specs = [dict(wid=f"o{i}", mode="overwrite", count=10, rows=3) for i in range(4)]
    events = _run_writers(tmp_path, table, specs)
    assert not [e for e in events if e["ev"] == "error"]
    ok = [e for e in events if e["ev"] == "ok"]
    conflicts = [e for e in events if e["ev"] == "conflict"]
    assert len(ok) + len(conflicts) == 40
    latest = _check_log_shape(table, 1 + len(ok))
    replay = wp.LogReplay(table)
    replay.advance_to(latest)
    by_version = _check_ok_commits(replay, events, 3)
    # Full overwrites of a table with no blind appends are serial: each removes all of v-1.
    for v in range(1, latest + 1):
        assert set(replay.commits[v]["removes"]) == set(replay.live[v - 1]), f"commit {v} left files behind"
        assert replay.rows(v) == wp.event_rows(by_version[v])
    lost = {(e["writer"], e["seq"]) for e in conflicts}
    for v in range(latest + 1):
        assert not ({(r[1], r[2]) for r in replay.added_rows(v)} & lost)
    _check_all_versions(table, replay, latest)
    # And in-process: a stale overwrite is refused outright.
    with pytest.raises(CommitConflictError):
        _stale_overwrite(table)


def _stale_overwrite(table: str) -> None:
    """Two threads overwrite at once many times; at least one must be refused (else raise nothing)."""
    errs: list[BaseException] = []
    for _ in range(50):
        barrier = threading.Barrier(2)

        def go(i):
            try:
                barrier.wait(timeout=10)
                strata.write_table(table, wp.batch(f"s{i}", 0, 3, PARTS), mode="overwrite")
            except BaseException as e:  # noqa: BLE001
                errs.append(e)

        ts = [threading.Thread(target=go, args=(i,)) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=30)
        if errs:
            raise errs[0]
