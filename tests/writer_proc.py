#!/usr/bin/env python
"""A small writer process for the concurrency and crash tests.

    writer_proc.py PATH --id W --count N --mode append|replace|overwrite|mix
                   [--parts a,b,c] [--rows R] [--report FILE] [--start-at EPOCH]
                   [--seed S] [--target-file-size BYTES] [--pause-max SECONDS]

Every operation writes R rows (part, writer, seq, row) tagged with this writer's id and the
operation's sequence number, so the rows of one write form one recognisable batch:

  append     rows spread over every partition (one file per partition at least)
  replace    mode="overwrite", replace_where="part = '<p>'" with all rows in partition p
  overwrite  mode="overwrite" of the whole table, rows spread over every partition
  mix        each operation picks one of the above at random (seeded)

The report file gets one JSON line per event, flushed and fsynced before the next step:
  {"ev": "begin", ...}           before write_table is called
  {"ev": "ok", "version": v}     after write_table returned (the commit is durable)
  {"ev": "conflict", "error": m} write_table raised CommitConflictError
  {"ev": "error", ...}           anything else (the process then exits with status 3)
"ready" is printed on stdout (flushed) once imports are done, so a test can time a kill.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_PY = os.path.join(os.path.dirname(_HERE), "python")
if _PY not in sys.path:
    sys.path.insert(0, _PY)

import pyarrow as pa  # noqa: E402

import strata  # noqa: E402
from strata.errors import CommitConflictError  # noqa: E402

SCHEMA = pa.schema([("part", pa.string()), ("writer", pa.string()), ("seq", pa.int64()), ("row", pa.int64())])


def batch(writer: str, seq: int, rows: int, parts: list[str]) -> pa.Table:
    return pa.table(
        {
            "part": [parts[j % len(parts)] for j in range(rows)],
            "writer": [writer] * rows,
            "seq": [seq] * rows,
            "row": list(range(rows)),
        },
        schema=SCHEMA,
    )


class Report:
    def __init__(self, path: str | None):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if path else None

    def emit(self, **event) -> None:
        if self.fd is None:
            return
        data = (json.dumps(event, sort_keys=True) + "\n").encode()
        os.write(self.fd, data)
        os.fsync(self.fd)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--id", required=True)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--mode", choices=["append", "replace", "overwrite", "mix"], default="append")
    ap.add_argument("--parts", default="a,b,c")
    ap.add_argument("--rows", type=int, default=6)
    ap.add_argument("--report")
    ap.add_argument("--start-at", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target-file-size", type=int, default=0)
    ap.add_argument("--pause-max", type=float, default=0.0)
    ap.add_argument("--go-file", help="after printing ready, wait (at most 30 s) until this file exists")
    a = ap.parse_args(argv)

    parts = a.parts.split(",")
    rng = random.Random(f"{a.seed}-{a.id}")
    report = Report(a.report)
    batch(a.id, -1, 3, parts)  # warm up pyarrow's lazy initialisation before reporting ready
    print("ready", flush=True)
    if a.go_file:
        deadline = time.time() + 30.0
        while not os.path.exists(a.go_file):
            if time.time() > deadline:
                print("no go file", file=sys.stderr, flush=True)
                return 4
            time.sleep(0.002)
    if a.start_at:
        delay = a.start_at - time.time()
        if delay > 0:
            time.sleep(min(delay, 10.0))

    for seq in range(a.count):
        mode = a.mode
        if mode == "mix":
            mode = rng.choices(["append", "replace", "overwrite"], weights=[6, 3, 1])[0]
        kwargs: dict = {"mode": "append"}
        part = None
        if mode == "append":
            data = batch(a.id, seq, a.rows, parts)
        elif mode == "replace":
            part = rng.choice(parts)
            data = batch(a.id, seq, a.rows, [part])
            kwargs = {"mode": "overwrite", "replace_where": f"part = '{part}'"}
        else:
            data = batch(a.id, seq, a.rows, parts)
            kwargs = {"mode": "overwrite"}
        if a.target_file_size:
            kwargs["target_file_size"] = a.target_file_size
        report.emit(ev="begin", writer=a.id, seq=seq, op=mode, part=part, rows=a.rows, parts=parts)
        try:
            version = strata.write_table(a.path, data, **kwargs)
        except CommitConflictError as e:
            report.emit(ev="conflict", writer=a.id, seq=seq, op=mode, part=part, error=str(e))
        except Exception as e:  # noqa: BLE001
            report.emit(ev="error", writer=a.id, seq=seq, op=mode, part=part, type=type(e).__name__, error=str(e))
            print(f"{type(e).__name__}: {e}", file=sys.stderr, flush=True)
            return 3
        else:
            report.emit(ev="ok", writer=a.id, seq=seq, op=mode, part=part, rows=a.rows, parts=parts, version=version)
        if a.pause_max:
            time.sleep(rng.uniform(0, a.pause_max))
    return 0


# ------------------------------------------------------------------------------------------------
# Helpers the tests import (test_concurrency.py, test_crash.py). Everything below reads the table
# independently of strata: the log JSON with json, the data files with pyarrow.parquet.
# ------------------------------------------------------------------------------------------------

import re  # noqa: E402
import select  # noqa: E402
import subprocess  # noqa: E402
from collections import Counter  # noqa: E402
from urllib.parse import unquote  # noqa: E402

COLUMNS = ("part", "writer", "seq", "row")
COMMIT_RE = re.compile(r"^(\d{20})\.json$")
SCRIPT = os.path.abspath(__file__)


def spawn(table: str, wid: str, *, report: str, mode: str = "append", count: int = 10, rows: int = 6,
          parts: str = "a,b,c", seed: int = 0, go_file: str | None = None, extra: list[str] | None = None):
    """Starts writer_proc.py as a subprocess (stdout piped so the caller can wait for "ready")."""
    cmd = [sys.executable, SCRIPT, table, "--id", wid, "--mode", mode, "--count", str(count), "--rows", str(rows),
           "--parts", parts, "--seed", str(seed), "--report", report]
    if go_file:
        cmd += ["--go-file", go_file]
    cmd += list(extra or [])
    env = dict(os.environ)
    env["PYTHONPATH"] = _PY + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def wait_ready(procs, timeout: float = 30.0) -> None:
    """Waits until every process printed its "ready" line (or raises)."""
    deadline = time.time() + timeout
    for p in procs:
        buf = b""
        while b"ready" not in buf:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError(f"writer {p.args} not ready after {timeout}s")
            r, _, _ = select.select([p.stdout], [], [], left)
            if r:
                chunk = os.read(p.stdout.fileno(), 64)
                if not chunk:
                    raise RuntimeError(f"writer exited before ready: rc={p.wait()} {p.stderr.read().decode()}")
                buf += chunk


def event_rows(e: dict) -> Counter:
    """The rows of the write an event (begin/ok/conflict) reports."""
    return expected_rows(e["writer"], e["seq"], e["op"], e["part"], e["rows"], e["parts"])


def read_events(report: str) -> list[dict]:
    """The report's events; a torn last line (writer killed mid-write of the report) is dropped."""
    out = []
    if not os.path.exists(report):
        return out
    with open(report, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            if i != len(lines) - 1:  # only the unterminated last line may be torn
                raise
    return out


def expected_rows(writer: str, seq: int, op: str, part, rows: int, parts: list[str]) -> Counter:
    """The rows one operation of writer_proc writes (parts: the --parts it was given)."""
    b = batch(writer, seq, rows, [part] if op == "replace" else parts)
    return Counter(zip(*(b.column(c).to_pylist() for c in COLUMNS)))


def rows_of(table: pa.Table) -> Counter:
    cols = [table.column(c).to_pylist() for c in COLUMNS]
    return Counter(zip(*cols))


def log_listing(table: str) -> tuple[list[int], list[str]]:
    """(commit versions found in _delta_log, sorted; every other entry name)."""
    versions, others = [], []
    for name in os.listdir(os.path.join(table, "_delta_log")):
        m = COMMIT_RE.match(name)
        if m:
            versions.append(int(m.group(1)))
        else:
            others.append(name)
    return sorted(versions), sorted(others)


def temp_files(table: str) -> list[str]:
    """Every .strata-tmp* entry anywhere under the table directory."""
    out = []
    for root, _dirs, files in os.walk(table):
        out += [os.path.join(root, f) for f in files if f.startswith(".strata-tmp")]
    return out


def data_files_on_disk(table: str) -> set[str]:
    """Relative paths of every parquet data file outside _delta_log."""
    out = set()
    for root, dirs, files in os.walk(table):
        if os.path.basename(root) == "_delta_log" or "/_delta_log" in root:
            continue
        dirs[:] = [d for d in dirs if d != "_delta_log"]
        for f in files:
            if f.endswith(".parquet") and not f.startswith("."):
                out.add(os.path.relpath(os.path.join(root, f), table))
    return out


def read_actions(table: str, version: int) -> list[dict]:
    """Every action of one commit; raises if any line is not complete JSON."""
    path = os.path.join(table, "_delta_log", f"{version:020d}.json")
    with open(path, "rb") as f:
        data = f.read()
    assert data.endswith(b"\n"), f"commit {version} does not end with a newline (torn?)"
    actions = []
    for n, line in enumerate(data.split(b"\n")):
        if line.strip():
            a = json.loads(line)
            assert isinstance(a, dict) and len(a) == 1, f"commit {version} line {n}: not one action: {line[:200]!r}"
            actions.append(a)
    return actions


class LogReplay:
    """Replays _delta_log/*.json by hand: live files per version and their rows (from pyarrow)."""

    def __init__(self, table: str):
        self.table = table
        self.commits: list[dict] = []  # per version: info, adds, removes, actions
        self.live: list[frozenset] = []  # live file paths (decoded, relative) per version
        self._file_rows: dict[str, list] = {}
        self._pvalues: dict[str, dict] = {}
        self.ever_added: set[str] = set()
        self.ever_removed: set[str] = set()

    @property
    def latest(self) -> int:
        return len(self.commits) - 1

    def file_rows(self, path: str) -> list:
        if path not in self._file_rows:
            import pyarrow.parquet as pq  # noqa: PLC0415

            t = pq.read_table(os.path.join(self.table, path))
            n = t.num_rows
            cols = {}
            for c in COLUMNS:
                if c in t.column_names:
                    cols[c] = t.column(c).to_pylist()
                else:
                    cols[c] = [self._pvalues[path].get(c)] * n
            self._file_rows[path] = list(zip(*(cols[c] for c in COLUMNS)))
        return self._file_rows[path]

    def advance_to(self, latest: int) -> None:
        """Replays commits len(commits)..latest, checking each one against the live state."""
        for v in range(len(self.commits), latest + 1):
            actions = read_actions(self.table, v)
            infos = [a["commitInfo"] for a in actions if "commitInfo" in a]
            assert len(infos) == 1, f"commit {v} has {len(infos)} commitInfo actions"
            if v == 0:
                assert any("protocol" in a for a in actions), "commit 0 has no protocol"
                assert any("metaData" in a for a in actions), "commit 0 has no metaData"
            prev = self.live[-1] if self.live else frozenset()
            adds, removes = [], []
            for a in actions:
                if "add" in a:
                    p = unquote(a["add"]["path"])
                    assert p not in prev, f"commit {v} adds {p} which is already live"
                    assert p not in self.ever_added, f"commit {v} re-adds {p}"
                    assert os.path.exists(os.path.join(self.table, p)), f"commit {v} adds missing file {p}"
                    self._pvalues[p] = a["add"].get("partitionValues") or {}
                    stats = json.loads(a["add"].get("stats") or "{}")
                    if "numRecords" in stats:
                        assert stats["numRecords"] == len(self.file_rows(p)), f"{p}: numRecords != rows"
                    adds.append(p)
                elif "remove" in a:
                    p = unquote(a["remove"]["path"])
                    assert p in prev, f"commit {v} removes {p} which is not live at version {v - 1}"
                    removes.append(p)
            assert len(set(adds)) == len(adds), f"commit {v} adds a file twice"
            assert len(set(removes)) == len(removes), f"commit {v} removes a file twice"
            self.ever_added.update(adds)
            self.ever_removed.update(removes)
            self.commits.append({"version": v, "info": infos[0], "adds": adds, "removes": removes, "actions": actions})
            self.live.append((prev - set(removes)) | set(adds))

    def rows(self, version: int) -> Counter:
        c = Counter()
        for p in self.live[version]:
            c.update(self.file_rows(p))
        return c

    def added_rows(self, version: int) -> Counter:
        c = Counter()
        for p in self.commits[version]["adds"]:
            c.update(self.file_rows(p))
        return c


def strata_rows(table: str, version: int | None = None) -> tuple[int, Counter]:
    t = strata.Table(table, version=version)
    return t.version, rows_of(t.to_arrow())


def delta_rs_rows(table: str, version: int | None = None) -> tuple[int, Counter]:
    import deltalake  # noqa: PLC0415

    dt = deltalake.DeltaTable(table, version=version) if version is not None else deltalake.DeltaTable(table)
    return dt.version(), rows_of(dt.to_pyarrow_table())


def check_version(table: str, replay: LogReplay, version: int, delta_rs: bool = True) -> None:
    """strata (and delta-rs) read exactly the rows the hand replay gives at `version`."""
    want = replay.rows(version)
    v, got = strata_rows(table, version)
    assert v == version
    assert got == want, f"strata at version {version}: {_diff(got, want)}"
    if delta_rs:
        v, got = delta_rs_rows(table, version)
        assert v == version
        assert got == want, f"delta-rs at version {version}: {_diff(got, want)}"


def _diff(got: Counter, want: Counter) -> str:
    extra, missing = got - want, want - got
    return (f"{sum(got.values())} rows vs {sum(want.values())} expected; extra {sorted(extra)[:5]}"
            f" ({sum(extra.values())}), missing {sorted(missing)[:5]} ({sum(missing.values())})")


if __name__ == "__main__":
    sys.exit(main())
