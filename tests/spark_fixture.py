"""pytest plugin: Apache Spark + Delta Lake as an oracle, started once per test run.

The session-scoped fixture `spark` starts tests/spark_worker.py under .venv-spark/bin/python
(Spark has a virtualenv of its own, made by scripts/setup-spark) and returns a `SparkClient`:

    spark.read(path, version=None) -> pyarrow.Table          # spark.read.format("delta")
    spark.read_versions(path, [0, 1, 2]) -> [pyarrow.Table | SparkError, ...]   # concurrently
    spark.sql("UPDATE delta.`/p` SET ...") -> pyarrow.Table | None   # None: no result columns
    spark.write(table, path, mode="append", partition_by=None, properties=None)
    spark.changes(path, start_version, end_version=None) -> pyarrow.Table   # readChangeFeed

Data crosses the process boundary as files in a private temporary directory: Parquet to Spark,
Arrow IPC back. Every
wait is bounded: a command that does not answer in time kills the worker and fails the test.

If .venv-spark or the Delta jars are missing the fixture FAILS, telling to run
scripts/setup-spark; with STRATA_SKIP_SPARK=1 in the environment the Spark tests are skipped.
"""

from __future__ import annotations

import itertools
import json
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc  # noqa: F401 - pa.ipc
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
SPARK_PYTHON = ROOT / ".venv-spark" / "bin" / "python"
SPARK_JARS = Path(os.environ.get("STRATA_SPARK_JARS") or ROOT / ".cache" / "spark-jars")
WORKER = Path(__file__).resolve().parent / "spark_worker.py"

STARTUP_TIMEOUT = float(os.environ.get("STRATA_SPARK_STARTUP_TIMEOUT", "300"))
COMMAND_TIMEOUT = float(os.environ.get("STRATA_SPARK_COMMAND_TIMEOUT", "240"))


class SparkError(RuntimeError):
    """Spark refused or failed a command (the worker is still usable)."""


class SparkWorkerDied(RuntimeError):
    """The worker process is gone or did not answer in time."""


def _sql_path(path) -> str:
    """`delta.\\`path\\`` for SQL statements."""
    return "delta.`" + str(path).replace("`", "``") + "`"


class SparkClient:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "spark-worker.log"
        self._counter = itertools.count()
        self._buf = b""
        self._dead: str | None = None
        self.proc: subprocess.Popen | None = None
        self.version: str | None = None
        self.startup_seconds: float | None = None

    # ---- process ------------------------------------------------------------------------
    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env.update(
            SPARK_LOCAL_IP="127.0.0.1",
            PYSPARK_PYTHON=str(SPARK_PYTHON),
            PYSPARK_DRIVER_PYTHON=str(SPARK_PYTHON),
            STRATA_SPARK_JARS=str(SPARK_JARS),
            PYTHONUNBUFFERED="1",
        )
        t0 = time.monotonic()
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(SPARK_PYTHON), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=str(self.workdir),
            env=env,
            start_new_session=True,  # its own process group: the JVM goes down with it
        )
        ready = self._receive(STARTUP_TIMEOUT, "startup")
        if not ready.get("ok"):
            self._kill()
            raise SparkWorkerDied(f"Spark did not start: {ready.get('error')}\n{self.log_tail()}")
        self.version = ready.get("spark")
        self.startup_seconds = time.monotonic() - t0

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None and self._dead is None:
                try:
                    self.proc.stdin.write(b'{"op": "stop"}\n')
                    self.proc.stdin.flush()
                    self.proc.stdin.close()
                except OSError:
                    pass
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            self._kill()
            self._log.close()

    def _kill(self) -> None:
        p = self.proc
        if p is None:
            return
        try:  # the worker's own process group (the worker and the JVM it started)
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for f in (p.stdin, p.stdout):
            try:
                if f:
                    f.close()
            except OSError:
                pass

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "--- spark worker log (last lines) ---\n" + "\n".join(lines[-n:])

    # ---- protocol -----------------------------------------------------------------------
    def _receive(self, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._dead = f"no answer to {what} within {timeout:g} s"
                    self._kill()
                    raise SparkWorkerDied(f"Spark worker: {self._dead}\n{self.log_tail()}")
                if not sel.select(min(left, 1.0)):
                    if self.proc.poll() is not None:
                        break
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                self._buf += chunk
        if b"\n" not in self._buf:
            self._dead = f"worker exited (code {self.proc.poll()}) during {what}"
            self._kill()
            raise SparkWorkerDied(f"Spark worker: {self._dead}\n{self.log_tail()}")
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, cmd: dict, timeout: float | None = None) -> dict:
        if self._dead is not None:
            raise SparkWorkerDied(f"Spark worker is unusable: {self._dead}")
        if self.proc.poll() is not None:
            self._dead = f"worker exited (code {self.proc.returncode})"
            raise SparkWorkerDied(f"Spark worker: {self._dead}\n{self.log_tail()}")
        what = f"{cmd.get('op')} {cmd.get('sql') or cmd.get('path') or ''}".strip()
        try:
            self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as e:
            self._dead = f"cannot send a command: {e}"
            raise SparkWorkerDied(f"Spark worker: {self._dead}\n{self.log_tail()}") from e
        res = self._receive(timeout or COMMAND_TIMEOUT, what)
        if not res.get("ok"):
            raise SparkError(f"Spark failed: {what}\n{res.get('type')}: {res.get('error')}")
        return res

    def _out_path(self) -> Path:
        return self.workdir / f"out-{next(self._counter)}.arrow"

    @staticmethod
    def _load(out: Path) -> pa.Table:
        try:
            with pa.memory_map(str(out), "r") as source:
                return pa.ipc.open_file(source).read_all()
        finally:
            out.unlink(missing_ok=True)

    @staticmethod
    def _read_cmd(path, version=None, timestamp=None, options=None, columns=None, out=None) -> dict:
        return {"path": str(path), "version": version, "timestamp": timestamp, "options": options or {},
                "columns": columns, "out": str(out)}

    # ---- API ----------------------------------------------------------------------------
    def read(self, path, version: int | None = None, *, timestamp: str | None = None,
             options: dict | None = None, columns: list[str] | None = None) -> pa.Table:
        """Spark's rows of the Delta table at `path` (at `version`, via versionAsOf)."""
        out = self._out_path()
        self.call({"op": "read", **self._read_cmd(path, version, timestamp, options, columns, out)})
        return self._load(out)

    def read_versions(self, path, versions, threads: int = 3) -> list:
        """Spark's rows at each of `versions`, read concurrently: a list holding, per version, a
        pyarrow.Table or the SparkError Spark gave for that version."""
        outs = [self._out_path() for _ in versions]
        res = self.call({"op": "read_many", "threads": threads,
                         "reads": [self._read_cmd(path, v, out=o) for v, o in zip(versions, outs)]})
        tables = []
        for v, o, r in zip(versions, outs, res["results"]):
            if r.get("ok"):
                tables.append(self._load(o))
            else:
                o.unlink(missing_ok=True)
                tables.append(SparkError(f"Spark failed to read {path} at version {v}\n{r.get('type')}: {r.get('error')}"))
        return tables

    def sql(self, stmt: str) -> pa.Table | None:
        """Runs a statement; its result rows, or None when it has no result columns."""
        out = self._out_path()
        res = self.call({"op": "sql", "sql": stmt, "out": str(out)})
        return self._load(out) if res.get("out") else None

    def write(self, table, path, mode: str = "append", partition_by=None, properties=None,
              options=None) -> None:
        """Writes `table` (anything pyarrow.table() accepts) to the Delta table at `path` with
        Spark's DataFrame writer; `properties` are table properties."""
        if not isinstance(table, pa.Table):
            table = pa.table(table)
        src = self.workdir / f"in-{next(self._counter)}.parquet"
        pq.write_table(table, str(src))
        try:
            self.call({"op": "write", "parquet": str(src), "path": str(path), "mode": mode,
                       "partition_by": list(partition_by or []), "properties": dict(properties or {}),
                       "options": dict(options or {})})
        finally:
            src.unlink(missing_ok=True)

    def changes(self, path, start_version: int, end_version: int | None = None) -> pa.Table:
        """The change data feed (readChangeFeed) between two versions, both included."""
        opts = {"readChangeFeed": "true", "startingVersion": str(start_version)}
        if end_version is not None:
            opts["endingVersion"] = str(end_version)
        return self.read(path, options=opts)

    sql_path = staticmethod(_sql_path)


def _missing_setup() -> str | None:
    if not SPARK_PYTHON.exists():
        return f"{SPARK_PYTHON} does not exist"
    if not any(SPARK_JARS.glob("delta-spark_*.jar")):
        return f"no Delta Lake jars in {SPARK_JARS}"
    return None


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One Spark + Delta Lake worker for the whole test run (a `SparkClient`)."""
    if os.environ.get("STRATA_SKIP_SPARK") == "1":
        pytest.skip("STRATA_SKIP_SPARK=1: Spark interop tests skipped")
    missing = _missing_setup()
    if missing:
        pytest.fail(f"Spark is not installed ({missing}): run scripts/setup-spark "
                    "(or set STRATA_SKIP_SPARK=1 to skip the Spark tests)", pytrace=False)
    client = SparkClient(tmp_path_factory.mktemp("spark-worker"))
    try:
        client.start()
    except Exception as e:  # noqa: BLE001 - one clear failure for every Spark test
        client.stop()
        pytest.fail(str(e), pytrace=False)
    try:
        yield client
    finally:
        client.stop()
