"""Interop with Apache Spark + Delta Lake (the reference implementation), both ways.

1. Spark reads tables strata wrote (appends, overwrite, schema evolution, many primitive types,
   partition values with special characters, DELETE/UPDATE with and without deletion vectors,
   checkpoints, RESTORE, nested types with the change data feed or column mapping): Spark's rows
   equal strata's at every version.
2. strata reads tables Spark wrote (INSERT, DataFrame writes, MERGE, DELETE/UPDATE with and
   without deletion vectors, OPTIMIZE [ZORDER BY], change data feed, column mapping with RENAME
   and DROP COLUMN, checkpoints incl. v2 checkpoints, timestampNtz, type widening, clustering, row
   tracking): strata's rows equal Spark's at every version.
3. strata's change feed (Table.changes) equals Spark's readChangeFeed, for tables either wrote.

Spark runs in one worker process per test run (tests/spark_fixture.py, tests/spark_worker.py);
scripts/setup-spark installs it. STRATA_SKIP_SPARK=1 skips these tests.
"""
from __future__ import annotations

import datetime as dt
import decimal
import os
import random

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import assert_same_rows

import strata

UTC = dt.timezone.utc


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def q(path) -> str:
    """A path as a Spark SQL table name."""
    return "delta.`" + str(path).replace("`", "``") + "`"


def latest_version(path) -> int:
    return strata.Table(str(path)).version


def operations(path) -> list[str]:
    """The operation of every commit, oldest first."""
    return [h["operation"] for h in sorted(strata.Table(str(path)).history(), key=lambda h: h["version"])]


def has_deletion_vectors(path) -> bool:
    """Whether some commit of the table added a file with a deletion vector."""
    log = os.path.join(str(path), "_delta_log")
    for name in sorted(os.listdir(log)):
        if name.endswith(".json"):
            with open(os.path.join(log, name)) as f:
                if '"deletionVector":{' in f.read():
                    return True
    return False


def compare_versions(spark, path, versions=None, label: str = "") -> None:
    """strata's rows equal Spark's at each version (every version by default). All mismatching
    versions are reported together."""
    path = str(path)
    if versions is None:
        versions = range(latest_version(path) + 1)
    versions = list(versions)
    failures = []
    for v, want in zip(versions, spark.read_versions(path, versions)):
        if isinstance(want, Exception):
            failures.append(f"--- version {v}: {want}")
            continue
        try:
            got = strata.Table(path, version=v).to_arrow()
        except Exception as e:  # noqa: BLE001 - reported with the other versions
            failures.append(f"--- version {v}: strata raised {type(e).__name__}: {e}")
            continue
        try:
            assert_same_rows(got, want, f"--- version {v} (actual = strata, expected = Spark)")
        except AssertionError as e:
            failures.append(str(e))
    if failures:
        pytest.fail(f"{label or path}: strata and Spark differ at {len(failures)} version(s)\n"
                    + "\n".join(failures), pytrace=False)


SPECIAL = ["plain", "a b", "x/y", "p=q", "ü-é €", "50%", "#hash", "quote'd", "comma,colon:", None]


def typed_rows(seed: int, start: int, n: int, *, special_parts: bool = True) -> pa.Table:
    """Rows with many primitive types; `part` holds partition values with special characters."""
    rng = random.Random(seed)
    ids = list(range(start, start + n))
    base = dt.datetime(2024, 2, 29, 12, 30, 15, 123456, tzinfo=UTC)
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "i8": pa.array([rng.randint(-128, 127) for _ in ids], pa.int8()),
        "i16": pa.array([rng.randint(-30000, 30000) for _ in ids], pa.int16()),
        "i32": pa.array([None if i % 7 == 0 else rng.randint(-2**31, 2**31 - 1) for i in ids], pa.int32()),
        "f32": pa.array([rng.uniform(-1e3, 1e3) for _ in ids], pa.float32()),
        "f64": pa.array([None if i % 5 == 0 else rng.uniform(-1e9, 1e9) for i in ids], pa.float64()),
        "flag": pa.array([rng.random() < 0.5 for _ in ids], pa.bool_()),
        "s": pa.array([rng.choice(["", "x", "é", "日本語", "tab\tnew\nline", "q'uote", None]) for _ in ids],
                      pa.string()),
        "bin": pa.array([bytes([rng.randint(0, 255) for _ in range(i % 4)]) for i in ids], pa.binary()),
        "d": pa.array([dt.date(1969, 12, 31) + dt.timedelta(days=rng.randint(-1000, 20000)) for _ in ids],
                      pa.date32()),
        "ts": pa.array([base + dt.timedelta(seconds=rng.randint(-10**8, 10**8), microseconds=i) for i in ids],
                       pa.timestamp("us", tz="UTC")),
        "dec": pa.array([decimal.Decimal(rng.randint(-10**9, 10**9)).scaleb(-2) for _ in ids],
                        pa.decimal128(12, 2)),
        "dec38": pa.array([None if i % 3 == 0 else decimal.Decimal(rng.randint(-10**30, 10**30)).scaleb(-6)
                           for i in ids], pa.decimal128(38, 6)),
        "part": pa.array([SPECIAL[i % len(SPECIAL)] if special_parts else f"p{i % 3}" for i in ids], pa.string()),
    })


# --------------------------------------------------------------------------------------------
# 1. Spark reads tables strata wrote
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("partition_by", [None, ["part"]], ids=["flat", "part-special"])
def test_spark_reads_strata_appends_overwrite_evolution(spark, tmp_table, partition_by):
    t = tmp_table
    strata.write_table(t, typed_rows(1, 0, 40), partition_by=partition_by)            # v0
    strata.write_table(t, typed_rows(2, 40, 25))                                       # v1
    strata.write_table(t, typed_rows(3, 65, 15))                                       # v2
    evolved = typed_rows(4, 80, 20).append_column("extra", pa.array([f"e{i}" for i in range(20)]))
    strata.write_table(t, evolved, schema_mode="merge")                                # v3
    strata.write_table(t, typed_rows(5, 100, 10))                                      # v4 (extra null)
    over = typed_rows(6, 200, 30).append_column("extra", pa.array([None] * 30, pa.string()))
    strata.write_table(t, over, mode="overwrite")                                      # v5
    strata.write_table(t, typed_rows(7, 300, 12))                                      # v6
    assert latest_version(t) == 6
    compare_versions(spark, t, label=f"strata table partitioned by {partition_by}")


def test_spark_reads_strata_timestamp_ntz_and_partition_types(spark, tmp_table):
    """Partition columns of several types (timestamp, date, boolean, decimal, long, byte) and a
    timestamp without time zone (the timestampNtz table feature)."""
    n = 24
    tbl = pa.table({
        "id": pa.array(range(n), pa.int64()),
        "pts": pa.array([dt.datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC) + dt.timedelta(hours=5 * (i % 4), microseconds=i % 2)
                         for i in range(n)], pa.timestamp("us", tz="UTC")),
        "pflag": pa.array([i % 2 == 0 for i in range(n)]),
        "pdec": pa.array([decimal.Decimal(i % 3).scaleb(-1) for i in range(n)], pa.decimal128(5, 1)),
        "plong": pa.array([(i % 3) * 10**12 for i in range(n)], pa.int64()),
        "pdate": pa.array([dt.date(1969, 12, 31) + dt.timedelta(days=400 * (i % 2)) for i in range(n)], pa.date32()),
        "pbyte": pa.array([-128 if i % 5 == 0 else None if i % 5 == 1 else 7 for i in range(n)], pa.int8()),
        "ntz": pa.array([dt.datetime(2000, 1, 1) + dt.timedelta(days=i, microseconds=i) for i in range(n)],
                        pa.timestamp("us")),
    })
    strata.write_table(tmp_table, tbl, partition_by=["pts", "pflag", "pdec", "plong", "pdate", "pbyte"])
    strata.write_table(tmp_table, tbl.slice(0, 10))
    compare_versions(spark, tmp_table, label="partitioned by timestamp/boolean/decimal/long")


@pytest.mark.parametrize(
    "dv,partition_by",
    [(False, None), (True, None), (True, ["part"])],
    ids=["cow", "dv", "dv-partitioned"],
)
def test_spark_reads_strata_dml(spark, tmp_table, dv, partition_by):
    t = tmp_table
    conf = {"delta.enableDeletionVectors": "true"} if dv else None
    strata.write_table(t, typed_rows(11, 0, 60, special_parts=False), partition_by=partition_by,
                       configuration=conf)                                             # v0
    strata.write_table(t, typed_rows(12, 60, 40, special_parts=False))                 # v1
    tbl = strata.Table(t)
    tbl.delete("id % 4 = 1")                                                           # v2
    strata.Table(t).update("id % 5 = 2", set={"s": "'updated'", "f64": "f64 * 2"})     # v3
    strata.Table(t).checkpoint()                                                       # (checkpoint at v3)
    strata.Table(t).delete("part = 'p1' AND id < 50")                                  # v4
    strata.write_table(t, typed_rows(13, 100, 20, special_parts=False))                # v5
    strata.Table(t).update("i8 > 0", set={"dec": "dec + 1"})                           # v6
    strata.Table(t).restore(3)                                                         # v7
    strata.Table(t).delete("id >= 90")                                                 # v8
    assert latest_version(t) == 8
    if dv:  # the deletes really left deletion vectors for Spark to apply
        assert "deletionVectors" in (strata.Table(t).protocol.get("reader_features") or [])
        assert has_deletion_vectors(t)
    compare_versions(spark, t, label=f"strata DML table dv={dv} partition_by={partition_by}")


NESTED = pa.table({
    "id": pa.array(range(20), pa.int64()),
    "g": [f"g{i % 3}" for i in range(20)],
    "st": pa.array([{"a": i, "b": str(i)} if i % 4 else None for i in range(20)]),
    "arr": pa.array([[i, None] if i % 5 else None for i in range(20)], pa.list_(pa.int32())),
    "m": pa.array([[("k", i), ("é", -i)] for i in range(20)], pa.map_(pa.string(), pa.int64())),
})

STRATA_FEATURES = {
    "cdf": {"delta.enableChangeDataFeed": "true"},
    "cdf-dv": {"delta.enableChangeDataFeed": "true", "delta.enableDeletionVectors": "true"},
    "colmap-name": {"delta.columnMapping.mode": "name"},
    "colmap-id": {"delta.columnMapping.mode": "id"},
}


def make_strata_feature_table(path, conf) -> None:
    strata.write_table(path, NESTED, partition_by=["g"], configuration=conf)           # v0
    strata.write_table(path, NESTED.slice(0, 5))                                      # v1
    strata.Table(path).update("id % 3 = 0", set={"id": "id + 100"})                   # v2
    strata.Table(path).delete("id < 4")                                               # v3
    strata.Table(path).checkpoint()
    strata.write_table(path, NESTED.slice(5, 3))                                      # v4


@pytest.mark.parametrize("feature", list(STRATA_FEATURES))
def test_spark_reads_strata_table_features(spark, tmp_table, feature):
    """Nested types (struct, list, map) in tables with the change data feed, deletion vectors or
    column mapping, after UPDATE, DELETE and a checkpoint."""
    make_strata_feature_table(tmp_table, STRATA_FEATURES[feature])
    compare_versions(spark, tmp_table, label=f"strata table with {feature}")


# --------------------------------------------------------------------------------------------
# 2. strata reads tables Spark wrote
# --------------------------------------------------------------------------------------------
def values_sql(seed: int, start: int, n: int) -> str:
    rng = random.Random(seed)
    rows = []
    for i in range(start, start + n):
        name = rng.choice(["alice", "bob", "ça va", "o'neil", "日本"]).replace("'", "\\'")
        amount = f"{rng.randint(-100000, 100000) / 100:.2f}"
        ts = f"TIMESTAMP'2024-03-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:05.{i:06d}'"
        d = f"DATE'2023-12-{1 + i % 3:02d}'"
        f = "NULL" if i % 6 == 0 else f"{rng.uniform(-1e6, 1e6)!r}"
        rows.append(f"({i}, '{name}', CAST({amount} AS DECIMAL(10,2)), {ts}, {d}, {str(i % 2 == 0).lower()}, "
                    f"CAST({f} AS DOUBLE), 'g{i % 3}')")
    return "VALUES " + ", ".join(rows)


SPARK_COLUMNS = "id BIGINT, name STRING, amount DECIMAL(10,2), ts TIMESTAMP, d DATE, flag BOOLEAN, f DOUBLE, grp STRING"


SPARK_DML_VARIANTS = {  # name: (deletion vectors, partitioned, OPTIMIZE with ZORDER BY)
    "cow": (False, False, False),
    "dv-partitioned-zorder": (True, True, True),
}


def make_spark_dml_table(spark, path, dv: bool, partitioned: bool, zorder: bool) -> None:
    """INSERT, DELETE, UPDATE, MERGE (delete + update + insert clauses), OPTIMIZE, with the change
    data feed on."""
    t = q(path)
    props = (f"'delta.enableDeletionVectors' = '{str(dv).lower()}', "
             "'delta.enableChangeDataFeed' = 'true'")
    part = "PARTITIONED BY (grp)" if partitioned else ""
    spark.sql(f"CREATE TABLE {t} ({SPARK_COLUMNS}) USING delta {part} TBLPROPERTIES ({props})")   # v0
    spark.sql(f"INSERT INTO {t} {values_sql(1, 0, 60)}")                                       # v1
    spark.sql(f"INSERT INTO {t} {values_sql(2, 60, 40)}")                                      # v2
    spark.sql(f"DELETE FROM {t} WHERE id % 4 = 1")                                             # v3
    spark.sql(f"UPDATE {t} SET name = 'updated', f = f * 2 WHERE id % 5 = 2")                  # v4
    spark.sql(f"""
        MERGE INTO {t} AS tgt
        USING (SELECT id, name, amount, ts, d, flag, f, grp, id % 3 AS op FROM (
                   SELECT * FROM {t} WHERE id BETWEEN 30 AND 70
                   UNION ALL
                   SELECT id + 1000, name, amount, ts, d, flag, f, grp FROM {t} WHERE id < 15)) AS src
        ON tgt.id = src.id
        WHEN MATCHED AND src.op = 0 THEN DELETE
        WHEN MATCHED THEN UPDATE SET tgt.amount = src.amount + 1, tgt.name = concat(src.name, '+')
        WHEN NOT MATCHED THEN INSERT (id, name, amount, ts, d, flag, f, grp)
             VALUES (src.id, src.name, src.amount, src.ts, src.d, src.flag, src.f, src.grp)
    """)                                                                                       # v5
    spark.sql(f"DELETE FROM {t} WHERE grp = 'g2' AND id < 40")                                 # v6
    spark.sql(f"INSERT INTO {t} {values_sql(3, 2000, 10)}")                                    # v7
    spark.sql(f"OPTIMIZE {t}" + (" ZORDER BY (id, ts)" if zorder else ""))                     # v8
    spark.sql(f"UPDATE {t} SET flag = NOT flag WHERE id >= 2000")                              # v9


@pytest.fixture(scope="module")
def spark_dml_tables(spark, tmp_path_factory):
    """The Spark DML tables, built once: read at every version and through the change feed."""
    out = {}
    for name, variant in SPARK_DML_VARIANTS.items():
        path = str(tmp_path_factory.mktemp("spark-dml") / name)
        make_spark_dml_table(spark, path, *variant)
        out[name] = path
    return out


@pytest.mark.parametrize("variant", list(SPARK_DML_VARIANTS))
def test_strata_reads_spark_dml(spark, spark_dml_tables, variant):
    path = spark_dml_tables[variant]
    dv = SPARK_DML_VARIANTS[variant][0]
    assert operations(path) == ["CREATE TABLE", "WRITE", "WRITE", "DELETE", "UPDATE", "MERGE", "DELETE",
                                "WRITE", "OPTIMIZE", "UPDATE"]
    if dv:
        assert "deletionVectors" in (strata.Table(path).protocol.get("reader_features") or [])
        assert has_deletion_vectors(path)
    else:  # copy-on-write UPDATE/DELETE/MERGE write change files for the change feed
        assert "_change_data" in os.listdir(path)
    compare_versions(spark, path, label=f"Spark DML table {variant}")


def test_strata_reads_spark_dataframe_writes(spark, tmp_table):
    """Spark's DataFrame writer: partitioned by columns with special characters and several types,
    appends, an overwrite and a mergeSchema append."""
    base = typed_rows(21, 0, 40).drop_columns(["bin", "i8", "i16"])
    spark.write(base, tmp_table, mode="overwrite", partition_by=["part", "d"],
                properties={"delta.checkpointInterval": "3"})                               # v0
    spark.write(typed_rows(22, 40, 20).drop_columns(["bin", "i8", "i16"]), tmp_table)       # v1
    evolved = typed_rows(23, 60, 10).drop_columns(["bin", "i8", "i16"]).append_column(
        "extra", pa.array([f"e{i}" for i in range(10)]))
    spark.write(evolved, tmp_table, options={"mergeSchema": "true"})                        # v2
    spark.write(evolved.slice(0, 5), tmp_table, mode="overwrite")                           # v3
    late = evolved.filter(pc.greater_equal(evolved["d"], pa.scalar(dt.date(1990, 1, 1))))
    spark.write(late, tmp_table, mode="overwrite",
                options={"replaceWhere": "d >= DATE'1990-01-01'"})                          # v4
    assert strata.Table(tmp_table).properties.get("delta.checkpointInterval") == "3"
    assert strata.Table(tmp_table).partition_columns == ["part", "d"]
    compare_versions(spark, tmp_table, label="Spark DataFrame-written table")


def test_strata_reads_spark_column_mapping(spark, tmp_table):
    t = q(tmp_table)
    spark.sql(f"CREATE TABLE {t} (id BIGINT, name STRING, score DOUBLE, grp STRING) USING delta "
              "PARTITIONED BY (grp) TBLPROPERTIES ('delta.columnMapping.mode' = 'name', "
              "'delta.enableDeletionVectors' = 'true')")                                        # v0
    spark.sql(f"INSERT INTO {t} VALUES (1, 'a', 1.5, 'x'), (2, 'b', 2.5, 'y'), (3, NULL, NULL, 'x')")  # v1
    spark.sql(f"ALTER TABLE {t} RENAME COLUMN name TO full_name")                            # v2
    spark.sql(f"INSERT INTO {t} VALUES (4, 'd', 4.5, 'y')")                                  # v3
    spark.sql(f"ALTER TABLE {t} RENAME COLUMN grp TO `group name`")                          # v4
    spark.sql(f"ALTER TABLE {t} ADD COLUMNS (`note with space` STRING)")                     # v5
    spark.sql(f"INSERT INTO {t} VALUES (5, 'e', 5.5, 'z', 'n5')")                            # v6
    spark.sql(f"DELETE FROM {t} WHERE id = 2")                                               # v7
    spark.sql(f"ALTER TABLE {t} DROP COLUMN score")                                          # v8
    spark.sql(f"UPDATE {t} SET full_name = 'upd' WHERE id = 1")                              # v9
    assert strata.Table(tmp_table).properties["delta.columnMapping.mode"] == "name"
    compare_versions(spark, tmp_table, label="Spark column-mapped table")


def test_strata_reads_spark_checkpoints(spark, tmp_table):
    t = q(tmp_table)
    spark.sql(f"CREATE TABLE {t} ({SPARK_COLUMNS}) USING delta PARTITIONED BY (grp) "
              "TBLPROPERTIES ('delta.checkpointInterval' = '2', 'delta.enableDeletionVectors' = 'true')")  # v0
    for k in range(1, 5):                                                                    # v1..v4
        spark.sql(f"INSERT INTO {t} {values_sql(30 + k, k * 100, 7)}")
    spark.sql(f"DELETE FROM {t} WHERE id % 3 = 0")                                           # v5
    spark.sql(f"UPDATE {t} SET amount = amount * 2 WHERE grp = 'g1'")                        # v6 (checkpoint)
    spark.sql(f"INSERT INTO {t} {values_sql(40, 900, 3)}")                                   # v7

    log = os.listdir(os.path.join(tmp_table, "_delta_log"))
    assert sum(n.endswith(".checkpoint.parquet") for n in log) >= 3, sorted(log)
    assert "_last_checkpoint" in log
    compare_versions(spark, tmp_table, label="Spark table with checkpoints")


SPARK_FEATURES = {
    # v2 checkpoints (a reader feature) over a table with deletion vectors
    "v2checkpoint-dv": [
        "CREATE TABLE {t} (id BIGINT, s STRING) USING delta TBLPROPERTIES ('delta.checkpointPolicy' = 'v2', "
        "'delta.checkpointInterval' = '2', 'delta.enableDeletionVectors' = 'true')",
        "INSERT INTO {t} SELECT id, concat('s', id) FROM range(50)",
        "DELETE FROM {t} WHERE id % 3 = 0",
        "INSERT INTO {t} VALUES (1000, 'x')",
        "UPDATE {t} SET s = 'u' WHERE id % 5 = 1",
    ],
    # timestamp without time zone (a reader feature) and nested types
    "ntz-nested": [
        "CREATE TABLE {t} (id BIGINT, ts TIMESTAMP_NTZ, st STRUCT<a: INT, b: STRING>, arr ARRAY<STRING>, "
        "m MAP<STRING, INT>) USING delta",
        "INSERT INTO {t} VALUES (1, TIMESTAMP_NTZ'2024-01-01 10:00:00.123456', named_struct('a', 1, 'b', 'x'), "
        "array('p', NULL), map('k', 1)), (2, NULL, NULL, NULL, NULL), "
        "(3, TIMESTAMP_NTZ'1900-12-31 23:59:59', named_struct('a', NULL, 'b', 'é'), array(), map())",
        "UPDATE {t} SET st = named_struct('a', 9, 'b', 'y') WHERE id = 2",
    ],
    # column mapping by id with renames, and type widening (a reader feature)
    "colmap-id-typewidening": [
        "CREATE TABLE {t} (id INT, s SMALLINT, name STRING) USING delta TBLPROPERTIES "
        "('delta.columnMapping.mode' = 'id', 'delta.enableTypeWidening' = 'true')",
        "INSERT INTO {t} VALUES (1, 2, 'a'), (2, -3, 'b')",
        "ALTER TABLE {t} RENAME COLUMN name TO `the name`",
        "ALTER TABLE {t} ALTER COLUMN s TYPE INT",
        "INSERT INTO {t} VALUES (3, 100000, 'c')",
    ],
    # writer features a reader must tolerate: liquid clustering, domain metadata, row tracking and
    # CHECK constraints (generated columns need a catalog table, not a path)
    "clustering-rowtracking-check": [
        "CREATE TABLE {t} (id BIGINT, x INT, y INT) USING delta CLUSTER BY (id) "
        "TBLPROPERTIES ('delta.enableRowTracking' = 'true')",
        "ALTER TABLE {t} ADD CONSTRAINT x_positive CHECK (x > 0)",
        "INSERT INTO {t} VALUES (1, 1, 2), (2, 2, NULL)",
        "INSERT INTO {t} VALUES (3, 3, 6)",
        "OPTIMIZE {t}",
        "UPDATE {t} SET x = 10 WHERE id = 1",
    ],
}


@pytest.mark.parametrize("feature", list(SPARK_FEATURES))
def test_strata_reads_spark_table_features(spark, tmp_table, feature):
    for stmt in SPARK_FEATURES[feature]:
        spark.sql(stmt.format(t=q(tmp_table)))
    compare_versions(spark, tmp_table, label=f"Spark table with {feature}")


# --------------------------------------------------------------------------------------------
# 3. the change data feed
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", list(SPARK_DML_VARIANTS))
@pytest.mark.parametrize("start,end", [(0, None), (2, 5), (8, 8)], ids=["all", "2-5", "optimize"])
def test_strata_changes_match_spark(spark, spark_dml_tables, variant, start, end):
    if not hasattr(strata.Table, "changes"):
        pytest.skip("Table.changes not available yet")
    path = spark_dml_tables[variant]
    want = spark.changes(path, start, end)
    got = strata.Table(path).changes(start, end)
    cols = [c for c in want.column_names if c != "_commit_timestamp"]
    assert "_commit_timestamp" in got.column_names
    missing = [c for c in cols if c not in got.column_names]
    assert not missing, f"strata's change feed lacks columns {missing}: {got.column_names}"
    assert_same_rows(got.select(cols), want.select(cols),
                     f"change feed of {path} from {start} to {end} (actual = strata, expected = Spark)")
    # every commit has one timestamp for all of its rows
    g = {(r["_commit_version"], r["_commit_timestamp"]) for r in got.select(["_commit_version", "_commit_timestamp"]).to_pylist()}
    assert len(g) == len({v for v, _ in g}), f"several timestamps for one commit: {sorted(g)}"


@pytest.mark.parametrize("feature", ["cdf", "cdf-dv"])
def test_spark_change_feed_of_strata_table(spark, tmp_table, feature):
    """Spark's readChangeFeed of a table strata wrote (its change files, or deletion vectors)
    equals strata's own change feed."""
    if not hasattr(strata.Table, "changes"):
        pytest.skip("Table.changes not available yet")
    make_strata_feature_table(tmp_table, STRATA_FEATURES[feature])
    want = spark.changes(tmp_table, 0)
    got = strata.Table(tmp_table).changes(0)
    cols = [c for c in want.column_names if c != "_commit_timestamp"]
    assert want.num_rows > 0
    assert_same_rows(got.select(cols), want.select(cols),
                     f"change feed of strata table {feature} (actual = strata, expected = Spark)")


@pytest.mark.parametrize("dv,partition_by", [(False, None), (True, ["part"])], ids=["cow", "dv-partitioned"])
def test_spark_reads_strata_merge_optimize_and_change_feed(spark, tmp_table, dv, partition_by):
    """Spark reads every version after strata's MERGE (all clause kinds, with deletion vectors or
    rewrites), OPTIMIZE (bin-packing and Z-order) and schema-evolving MERGE, and its change feed
    of those versions equals strata's."""
    t = tmp_table
    conf = {"delta.enableChangeDataFeed": "true"}
    if dv:
        conf["delta.enableDeletionVectors"] = "true"
    rows = typed_rows(21, 0, 80, special_parts=False)
    strata.write_table(t, rows.slice(0, 40), partition_by=partition_by, configuration=conf)   # v0
    strata.write_table(t, rows.slice(40, 40))                                                  # v1
    src = typed_rows(22, 60, 40, special_parts=False)  # ids 60..99: 20 matches, 20 new
    (strata.Table(t).merge(src, on="t.id = s.id", source_alias="s", target_alias="t")
     .when_matched_delete("s.i8 < -100")
     .when_matched_update(set={"s": "'merged'", "f64": "s.f64"})
     .when_not_matched_insert_all("s.id % 2 = 0")
     .when_not_matched_by_source_update(set={"flag": "NOT t.flag"}, predicate="t.id < 10")
     .when_not_matched_by_source_delete("t.id >= 50 AND t.id < 55")
     .execute())                                                                               # v2
    strata.Table(t).optimize()                                                                 # v3
    extra = typed_rows(23, 200, 10, special_parts=False).append_column("note", pa.array(["n"] * 10))
    (strata.Table(t).merge(extra, on="t.id = s.id", source_alias="s", target_alias="t", schema_mode="merge")
     .when_not_matched_insert_all().execute())                                                 # v4
    strata.Table(t).optimize(z_order=["i32", "f64"])                                           # v5
    assert latest_version(t) == 5
    compare_versions(spark, t, label=f"strata MERGE/OPTIMIZE table dv={dv}")
    want = spark.changes(t, 0)
    got = strata.Table(t).changes(0)
    cols = [c for c in want.column_names if c != "_commit_timestamp"]
    assert_same_rows(got.select(cols), want.select(cols), "change feed after MERGE/OPTIMIZE (strata vs Spark)")
