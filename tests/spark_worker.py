"""A long-running Apache Spark + Delta Lake process for the interop tests.

Run with `.venv-spark/bin/python tests/spark_worker.py` (pyspark lives in its own virtualenv,
made by scripts/setup-spark; the tests run in .venv and talk to this process through
tests/spark_fixture.py). It builds ONE local SparkSession with the Delta Lake extension and the
jars in .cache/spark-jars/, then serves one JSON object per line on stdin, answering one JSON
object per line on stdout:

  {"op": "ping"}                                             -> {"ok": true, "spark": "3.5.3"}
  {"op": "read", "path": P, "out": OUT, "version": V?, "timestamp": T?, "options": {...}?,
   "columns": [...]?}
        the Delta table at P (at version V / timestamp T; extra reader options such as
        readChangeFeed) written as an Arrow IPC file to OUT   -> {"ok": true, "out": OUT}
  {"op": "read_many", "reads": [{read command without "op"}, ...], "threads": 3}
        several reads run concurrently                         -> {"ok": true, "results": [...]}
  {"op": "sql", "sql": S, "out": OUT?}
        runs S; if it returns columns and OUT is given, its rows are written as an Arrow IPC file
                                                               -> {"ok": true, "out": OUT|null}
  {"op": "write", "parquet": IN, "path": P, "mode": "append", "partition_by": [...]?,
   "properties": {...}?, "options": {...}?}
        the rows of the Parquet file/directory IN written to the Delta table at P; "properties"
        become table properties (TBLPROPERTIES at creation, ALTER TABLE on an existing table)
                                                               -> {"ok": true}
  {"op": "stop"}                                             -> {"ok": true}, then exits
Any failure answers {"ok": false, "error": "...", "type": "..."}; the process goes on serving.
The first line written is {"ok": true, "ready": true, ...} once Spark is up.

stdout carries only the protocol: everything else (the JVM's own output, Spark's logging, which
goes to stderr at WARN) is sent to stderr. The process exits when stdin closes or its parent dies.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LOG4J2 = """\
status = error
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss.SSS} %p %c{1}: %m%n%ex
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = console
logger.nativecode.name = org.apache.hadoop.util.NativeCodeLoader
logger.nativecode.level = error
logger.parquet.name = org.apache.parquet
logger.parquet.level = error
logger.deltalog.name = org.apache.spark.sql.delta
logger.deltalog.level = error
"""


def _protocol_stdout():
    """Keeps the real stdout for the protocol and points fd 1 at stderr, so the JVM (which
    inherits fd 1) and any stray print() cannot corrupt the JSON stream."""
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    return os.fdopen(proto_fd, "w", buffering=1)


def _die_with_parent() -> None:
    """Exit if the process that started us goes away (belt and braces to stdin EOF: a worker
    busy in a Spark job does not read stdin)."""
    parent = os.getppid()
    try:  # Linux: a signal when the parent dies
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except Exception:  # pragma: no cover
        pass

    def watch():
        while True:
            time.sleep(2)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def build_session():
    from pyspark.sql import SparkSession

    jar_dir = os.environ.get("STRATA_SPARK_JARS", os.path.join(ROOT, ".cache", "spark-jars"))
    jars = sorted(glob.glob(os.path.join(jar_dir, "*.jar")))
    if not any(os.path.basename(j).startswith("delta-spark") for j in jars):
        raise RuntimeError(f"no Delta Lake jars in {jar_dir}: run scripts/setup-spark")
    workdir = tempfile.mkdtemp(prefix="strata-spark-")
    log4j = os.path.join(workdir, "log4j2.properties")
    with open(log4j, "w") as f:
        f.write(LOG4J2)
    # Short runs of tiny queries: the JIT's C2 compiler costs more CPU than it saves (measured
    # here: 7-30% less JVM CPU for these tests with C1 only and the serial collector).
    jit = os.environ.get("STRATA_SPARK_JAVA_OPTS",
                         "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=512m -XX:+UseSerialGC")
    java_opts = f"-Dlog4j.configurationFile=file:{log4j} -Dlog4j2.configurationFile=file:{log4j} -Xss4m {jit}"
    b = (
        SparkSession.builder.master("local[2]")
        .appName("strata-interop-tests")
        .config("spark.jars", ",".join(jars))
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.driver.extraJavaOptions", java_opts)
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.parquet.fieldId.read.enabled", "true")  # column mapping mode id
        .config("spark.sql.warehouse.dir", os.path.join(workdir, "warehouse"))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        # tiny test tables on 2 cores: start-up and per-query overheads dominate, not throughput
        .config("spark.sql.adaptive.enabled", "false")
        # NOT spark.sql.codegen.wholeStage=false: Delta 3.3.2's deletion-vector read path without
        # whole-stage codegen returns wrong values for arrays holding nulls (e.g. [3, NULL] reads
        # as [NULL, 0]), in tables Spark wrote itself too
        .config("spark.databricks.delta.snapshotPartitions", "1")
        .config("spark.databricks.delta.merge.materializeSource", "none")
        .config("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    )
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark, workdir


def _quote_path(path: str) -> str:
    return "delta.`" + path.replace("`", "``") + "`"


def _sql_str(s: str) -> str:
    return "'" + str(s).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _write_out(df, out: str) -> None:
    """The rows of `df` as an Arrow IPC file at `out`: collected through Spark's Arrow path (no
    Parquet write job), so Arrow types are exact (decimals, timestamps in UTC, dates, binary)."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    if hasattr(df, "toArrow"):  # Spark >= 4.0
        table = df.toArrow()
    else:
        batches = df._collect_as_arrow()
        schema = batches[0].schema if batches else to_arrow_schema(df.schema)
        table = pa.Table.from_batches(batches, schema=schema)
    tmp = out + ".tmp"
    with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(tmp, out)


def op_read(spark, cmd):
    r = spark.read.format("delta")
    if cmd.get("version") is not None:
        r = r.option("versionAsOf", int(cmd["version"]))
    if cmd.get("timestamp") is not None:
        r = r.option("timestampAsOf", str(cmd["timestamp"]))
    for k, v in (cmd.get("options") or {}).items():
        r = r.option(k, str(v))
    df = r.load(cmd["path"])
    if cmd.get("columns"):
        df = df.select(*cmd["columns"])
    _write_out(df, cmd["out"])
    return {"out": cmd["out"]}


def op_read_many(spark, cmd):
    """Several reads at once (e.g. every version of a table), on a few threads: Spark's per-job
    latency, not the tiny data, is what a read costs. Each read answers on its own."""
    from concurrent.futures import ThreadPoolExecutor

    def one(sub):
        try:
            # each Python thread talks to a JVM thread of its own, which has no active session:
            # without one, SQL settings (time zone, Parquet field ids, ...) fall back to defaults
            spark._jvm.org.apache.spark.sql.SparkSession.setActiveSession(spark._jsparkSession)
            return {"ok": True, **op_read(spark, sub)}
        except Exception as e:  # noqa: BLE001 - one failed read does not fail the others
            return {"ok": False, "error": "\n".join(str(e).splitlines()[:12]), "type": type(e).__name__}

    reads = cmd.get("reads") or []
    with ThreadPoolExecutor(max(1, min(int(cmd.get("threads") or 3), 8))) as ex:
        return {"results": list(ex.map(one, reads))}


def op_sql(spark, cmd):
    df = spark.sql(cmd["sql"])
    out = cmd.get("out")
    if out and df.columns:
        _write_out(df, out)
        return {"out": out}
    return {"out": None}


def _table_exists(path: str) -> bool:
    return os.path.isdir(os.path.join(path, "_delta_log")) and any(
        n.endswith(".json") for n in os.listdir(os.path.join(path, "_delta_log"))
    )


def op_write(spark, cmd):
    path = cmd["path"]
    mode = cmd.get("mode") or "append"
    parts = cmd.get("partition_by") or []
    props = cmd.get("properties") or {}
    options = cmd.get("options") or {}
    df = spark.read.parquet(cmd["parquet"])
    if props and not _table_exists(path):
        # create the table with its properties in the same commit as the data
        view = f"strata_src_{int(time.time() * 1e6)}"
        df.createOrReplaceTempView(view)
        try:
            sql = f"CREATE TABLE {_quote_path(path)} USING delta"
            if parts:
                sql += " PARTITIONED BY (" + ", ".join(_ident(p) for p in parts) + ")"
            sql += " TBLPROPERTIES (" + ", ".join(f"{_sql_str(k)} = {_sql_str(v)}" for k, v in props.items()) + ")"
            sql += f" AS SELECT * FROM {view}"
            spark.sql(sql)
        finally:
            spark.catalog.dropTempView(view)
        return {}
    if props:
        spark.sql(
            f"ALTER TABLE {_quote_path(path)} SET TBLPROPERTIES ("
            + ", ".join(f"{_sql_str(k)} = {_sql_str(v)}" for k, v in props.items())
            + ")"
        )
    w = df.write.format("delta").mode(mode)
    if parts:
        w = w.partitionBy(*parts)
    for k, v in options.items():
        w = w.option(k, str(v))
    w.save(path)
    return {}


OPS = {"read": op_read, "read_many": op_read_many, "sql": op_sql, "write": op_write}


def main() -> int:
    proto = _protocol_stdout()
    _die_with_parent()

    def reply(obj) -> None:
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    t0 = time.monotonic()
    try:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        spark, workdir = build_session()
        spark.range(1).collect()  # warm up: the first job loads most classes
        spark.sql("SELECT 1").collect()
    except Exception as e:  # noqa: BLE001 - reported to the client
        traceback.print_exc()
        reply({"ok": False, "ready": False, "error": f"{type(e).__name__}: {e}"})
        return 2
    reply({"ok": True, "ready": True, "spark": spark.version, "startup_seconds": round(time.monotonic() - t0, 2)})

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
        except ValueError as e:
            reply({"ok": False, "error": f"bad command line: {e}", "type": "ValueError"})
            continue
        op = cmd.get("op")
        if op == "stop":
            reply({"ok": True})
            break
        if op == "ping":
            reply({"ok": True, "spark": spark.version})
            continue
        fn = OPS.get(op)
        if fn is None:
            reply({"ok": False, "error": f"unknown op {op!r}", "type": "ValueError"})
            continue
        t = time.monotonic()
        try:
            res = fn(spark, cmd) or {}
            res.update(ok=True, seconds=round(time.monotonic() - t, 3))
            what = cmd.get("sql") or cmd.get("path") or ""
            print(f"[spark_worker] {op} {res['seconds']:.2f}s: {' '.join(str(what).split())[:100]}",
                  file=sys.stderr, flush=True)
            reply(res)
        except Exception as e:  # noqa: BLE001 - every failure goes back to the client
            msg = str(e)
            # py4j errors carry the whole JVM stack trace; the first lines say what happened
            short = "\n".join(msg.splitlines()[:12])
            print(f"[spark_worker] {op} failed: {msg}", file=sys.stderr)
            reply({"ok": False, "error": short, "type": type(e).__name__})
    try:
        spark.stop()
    except Exception:  # noqa: BLE001
        pass
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    rc = main()
    sys.stderr.flush()
    # py4j's non-daemon threads must not keep the process alive after stdin closed
    os._exit(rc)
