"""Crash safety: writers killed with SIGKILL at random points, and torn commit files.

A writer (writer_proc.py) appends and overwrites; it fsyncs a report line after each write_table
returns. After every kill the table must read (strata and delta-rs, latest and earlier versions)
exactly as the committed writes imply; a write killed before its commit must leave no rows, one
killed after its commit but before its report may appear, but only as its whole batch."""

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
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "python"))
sys.path.insert(0, _HERE)

import pyarrow.parquet as pq  # noqa: E402

import strata  # noqa: E402
import writer_proc as wp  # noqa: E402

SEED = 20251124
ROUNDS = 30
PARTS = ["a", "b", "c"]
BUDGET_S = 35.0  # the kill loop stops early rather than run past this


def _apply(model: set, e: dict) -> set:
    """One committed operation of writer_proc, applied serially to a set of rows."""
    batch = set(wp.event_rows(e))
    if e["op"] == "append":
        return model | batch
    if e["op"] == "replace":
        return {x for x in model if x[0] != e["part"]} | batch
    return batch  # full overwrite


def _check_checkpoints(table: str, replay: wp.LogReplay) -> int:
    """Every checkpoint (read with pyarrow) lists exactly the live files of its version, and
    _last_checkpoint, if present, is complete JSON naming an existing checkpoint."""
    versions, others = wp.log_listing(table)
    n = 0
    for name in others:
        if name.endswith(".checkpoint.parquet") and not name.startswith("."):
            v = int(name.split(".")[0])
            t = pq.read_table(os.path.join(table, "_delta_log", name), columns=["add"])
            adds = {wp.unquote(a["path"]) for a in t.column("add").to_pylist() if a is not None}
            assert adds == set(replay.live[v]), f"checkpoint {v} does not list the live files of version {v}"
            n += 1
    if "_last_checkpoint" in others:
        with open(os.path.join(table, "_delta_log", "_last_checkpoint")) as f:
            last = json.load(f)
        assert f"{last['version']:020d}.checkpoint.parquet" in others, f"_last_checkpoint -> missing {last}"
        assert last["version"] <= versions[-1]
    return n


def _check_round(table, replay, model, rnd, wid, report, rng, stats) -> set:
    """Checks the table after round rnd's writer was killed; returns the updated model."""
    events = wp.read_events(report)
    assert not [e for e in events if e["ev"] in ("error", "conflict")], events
    begins = {e["seq"]: e for e in events if e["ev"] == "begin"}
    oks = {e["seq"]: e for e in events if e["ev"] == "ok"}
    inflight = [s for s in begins if s not in oks]
    assert len(inflight) <= 1 and (not inflight or inflight[0] == max(begins))
    stats["killed_in_write"] += bool(inflight)

    # The log: contiguous versions, every commit complete JSON whose adds exist.
    versions, _ = wp.log_listing(table)
    assert versions == list(range(len(versions))), f"round {rnd}: log has gaps: {versions}"
    before, latest = replay.latest, versions[-1]
    wp.read_actions(table, latest)  # the latest commit parses fully
    replay.advance_to(latest)

    # Every new commit is one whole write of this writer: a reported one at its reported
    # version, or (only as the last commit) the in-flight write whose report the kill cut off.
    committed = []
    for v in range(before + 1, latest + 1):
        tags = {(r[1], r[2]) for r in replay.added_rows(v)}
        assert len(tags) == 1, f"commit {v} mixes writes: {sorted(tags)[:5]}"
        (w, s), = tags
        assert w == wid
        if s in oks:
            assert oks[s]["version"] == v, f"{wid}/{s} reported version {oks[s]['version']}, log has it at {v}"
        else:
            assert inflight == [s] and v == latest, f"commit {v} by {wid}/{s} was neither reported nor in flight"
            stats["committed_unreported"] += 1
        assert replay.added_rows(v) == wp.event_rows(begins[s]), f"commit {v} is not the whole batch of {wid}/{s}"
        assert replay.commits[v]["info"]["readVersion"] == v - 1
        committed.append(s)
    assert sorted(oks) == sorted(s for s in committed if s in oks), "a reported commit is missing from the log"
    assert committed == sorted(committed)
    for s in committed:
        model = _apply(model, begins[s])

    # What readers see: exactly the committed writes, at latest and at each new version.
    got = replay.rows(latest)
    assert sum(got.values()) == len(got) and set(got) == model, f"round {rnd}: log replay != committed writes"
    for v in range(before + 1, latest + 1):
        wp.check_version(table, replay, v, delta_rs=True)
    wp.check_version(table, replay, latest, delta_rs=True)
    assert strata.Table(table).version == latest
    for v in rng.sample(range(latest + 1), min(4, latest + 1)):  # spot-check earlier versions
        wp.check_version(table, replay, v, delta_rs=(v % 2 == 0))
    if inflight and inflight[0] not in committed:
        tag = (wid, inflight[0])
        assert all((r[1], r[2]) != tag for v in range(latest + 1) for r in replay.added_rows(v))

    # Orphans (files of killed writes) may exist but are never referenced by the log.
    on_disk = wp.data_files_on_disk(table)
    assert replay.ever_added <= on_disk, f"referenced files missing: {sorted(replay.ever_added - on_disk)[:3]}"
    assert not replay.ever_removed - replay.ever_added
    _check_checkpoints(table, replay)
    return model


def test_kill9_writers(tmp_path):
    rng = random.Random(SEED)
    table = str(tmp_path / "t")
    strata.write_table(table, wp.batch("init", 0, 6, PARTS), partition_by="part",
                       configuration={"delta.checkpointInterval": "5"})
    replay = wp.LogReplay(table)
    replay.advance_to(0)
    model = set(replay.rows(0))
    check_rng = random.Random(SEED + 1)  # spot checks: kept apart so the kill schedule stays seeded
    stats = {"rounds": 0, "killed_in_write": 0, "committed_unreported": 0, "finished_before_kill": 0}
    start = time.time()

    def launch(rnd: int):
        """Starts round rnd's writer; it waits for its go file, so it starts up while the previous
        round is being checked."""
        wid = f"k{rnd:02d}"
        report = str(tmp_path / f"report-{wid}.jsonl")
        go = str(tmp_path / f"go-{wid}")
        rows = rng.choice([300, 1000, 2000])
        mode = rng.choice(["append", "mix", "mix"])
        proc = wp.spawn(table, wid, report=report, mode=mode, count=60, rows=rows, seed=SEED + rnd, go_file=go)
        return proc, wid, report, go, rng.uniform(0.0, 0.12)

    def reap(proc) -> str:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.stderr.close()
        return err

    pending = launch(0)
    try:
        for rnd in range(ROUNDS):
            proc, wid, report, go, delay = pending
            pending = None
            stats["rounds"] += 1
            try:
                wp.wait_ready([proc], timeout=30)
                with open(go, "w"):
                    pass
                time.sleep(delay)
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                else:
                    stats["finished_before_kill"] += 1
                proc.wait(timeout=10)
            finally:
                err = reap(proc)
            assert proc.returncode in (0, -signal.SIGKILL), f"writer failed on its own: {proc.returncode} {err}"
            if rnd + 1 < ROUNDS and time.time() - start < BUDGET_S:
                pending = launch(rnd + 1)
            model = _check_round(table, replay, model, rnd, wid, report, check_rng, stats)
            if pending is None:
                break
    finally:
        if pending is not None:
            reap(pending[0])

    # After all the debris, a writer that is not killed commits normally.
    report = str(tmp_path / "report-final.jsonl")
    proc = wp.spawn(table, "final", report=report, mode="mix", count=5, rows=30, seed=SEED)
    try:
        assert proc.wait(timeout=30) == 0, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    events = wp.read_events(report)
    oks = [e for e in events if e["ev"] == "ok"]
    assert len(oks) == 5
    versions, _ = wp.log_listing(table)
    assert versions == list(range(len(versions)))
    latest = versions[-1]
    assert [e["version"] for e in oks] == list(range(latest - 4, latest + 1))
    replay.advance_to(latest)
    for e in oks:
        model = _apply(model, e)
    assert set(replay.rows(latest)) == model

    t_final = time.time()
    # Every version, with both readers.
    for v in range(latest + 1):
        wp.check_version(table, replay, v, delta_rs=True)
    n_checkpoints = _check_checkpoints(table, replay)
    orphans = wp.data_files_on_disk(table) - replay.ever_added
    tmp = wp.temp_files(table)
    print(f"\ncrash: {stats}, {latest + 1} versions, {n_checkpoints} checkpoints, "
          f"{len(orphans)} orphaned data files, {len(tmp)} leftover temp files; final check {time.time() - t_final:.1f}s, total {time.time() - start:.1f}s")
    assert stats["rounds"] >= 10
    # Killed writers leave their data files behind: at least one kill should have hit a write.
    assert stats["killed_in_write"] > 0


def _make_table(table: str, n: int = 3) -> wp.LogReplay:
    strata.write_table(table, wp.batch("init", 0, 6, PARTS), partition_by="part")
    for s in range(1, n):
        strata.write_table(table, wp.batch("w", s, 6, PARTS))
    replay = wp.LogReplay(table)
    replay.advance_to(n - 1)
    return replay


def _torn_body(table: str) -> bytes:
    """The first ~60% of a real commit (the next version's) body: cut inside an add action."""
    scratch = table + "-scratch"
    import shutil  # noqa: PLC0415

    shutil.copytree(table, scratch)
    try:
        v = strata.write_table(scratch, wp.batch("torn", 0, 6, PARTS))
        with open(os.path.join(scratch, "_delta_log", f"{v:020d}.json"), "rb") as f:
            body = f.read()
    finally:
        shutil.rmtree(scratch)
    cut = body.index(b'"add"') + 40
    return body[:cut]


def test_torn_commit_temp_file_is_ignored(tmp_path):
    """A crashed writer's partial commit under a temp name is invisible to strata and delta-rs, and
    does not stop the next commit."""
    table = str(tmp_path / "t")
    replay = _make_table(table)
    want = replay.rows(2)
    torn = _torn_body(table)
    log = os.path.join(table, "_delta_log")
    for name in [".strata-tmp-99999-0-12345", ".strata-tmp-99999-1-67890"]:
        with open(os.path.join(log, name), "wb") as f:
            f.write(torn)
    # A partial data file too, like a writer killed mid-write.
    with open(os.path.join(table, "part=a", "part-00000-deadbeef-0000-0000-0000-000000000000-c000.snappy.parquet"),
              "wb") as f:
        f.write(b"PAR1\x00\x01")

    assert strata.Table(table).version == 2
    assert wp.strata_rows(table)[1] == want
    assert wp.delta_rs_rows(table) == (2, want)
    assert len(strata.Table(table).history()) == 3

    v = strata.write_table(table, wp.batch("next", 0, 6, PARTS))
    assert v == 3
    versions, _ = wp.log_listing(table)
    assert versions == [0, 1, 2, 3]
    replay.advance_to(3)
    for u in range(4):
        wp.check_version(table, replay, u)
    assert wp.strata_rows(table)[1] == want + wp.expected_rows("next", 0, "append", None, 6, PARTS)


_READ_LATEST = """
import sys
sys.path.insert(0, {py!r})
import strata
try:
    t = strata.Table({table!r})
    n = t.to_arrow().num_rows
    print("READ", t.version, n)
except strata.StrataError as e:
    print("ERROR", type(e).__name__, e)
"""


def test_torn_commit_under_real_name_is_not_half_read(tmp_path):
    """A truncated commit under its real name (which link()-based commits never produce) must not
    be half-applied: strata reports an error (no crash), and earlier versions still read."""
    table = str(tmp_path / "t")
    replay = _make_table(table)
    torn = _torn_body(table)
    with open(os.path.join(table, "_delta_log", f"{3:020d}.json"), "wb") as f:
        f.write(torn)
    py = os.path.join(os.path.dirname(_HERE), "python")
    r = subprocess.run([sys.executable, "-c", _READ_LATEST.format(py=py, table=table)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"reader crashed: rc={r.returncode} {r.stderr[-2000:]}"
    out = r.stdout.strip()
    assert out.startswith("ERROR CorruptLogError"), f"a torn commit was read as version 3 or misreported: {out}"
    for v in range(3):
        wp.check_version(table, replay, v, delta_rs=False)
    assert wp.strata_rows(table, 2)[1] == replay.rows(2)


@pytest.mark.parametrize("delay_ms", [0, 2, 5, 10, 20])
def test_kill_during_overwrite_keeps_old_or_new(tmp_path, delay_ms):
    """A full overwrite killed at a fixed short delay: the table is exactly the old rows or exactly
    the new batch, never a mix."""
    table = str(tmp_path / "t")
    replay = _make_table(table)
    old = replay.rows(2)
    report = str(tmp_path / "report.jsonl")
    proc = wp.spawn(table, "ow", report=report, mode="overwrite", count=3, rows=3000)
    try:
        wp.wait_ready([proc], timeout=30)
        time.sleep(delay_ms / 1000)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    versions, _ = wp.log_listing(table)
    assert versions == list(range(len(versions)))
    latest = versions[-1]
    replay.advance_to(latest)
    events = {e["seq"]: e for e in wp.read_events(report) if e["ev"] == "begin"}
    for v in range(latest + 1):
        wp.check_version(table, replay, v)
    got = replay.rows(latest)
    if latest == 2:
        assert got == old
    else:
        (w, s), = {(r[1], r[2]) for r in got}
        assert got == wp.event_rows(events[s])
