"""Point-in-time retrieval on Spark (`get_historical_features(..., engine="spark")`): the same
semantics as the engine's as-of join, as one Spark SQL query over the same Delta tables at the same
versions, for training sets larger than one machine.

For each view: the entity rows joined with the view's rows on the join keys and
`T - ttl <= t <= T`, ranked by (t DESC, created DESC NULLS LAST), rank 1 kept; then every view's
pick is left-joined back to the entity rows, in their original order. Rows tied on both timestamps
are the one case where the engines may pick differently (strata takes the row read last; Spark
has no order among them).

`spark` is a pyspark SparkSession (the active one by default) or any object whose `.sql(text)`
returns a pyarrow.Table (how the test suite drives a Spark process in its own virtualenv)."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _path(p: str) -> str:
    return "`" + p.replace("`", "``") + "`"


def build_sql(entity_path: str, entity_columns: list[str], views: list[dict]) -> str:
    """The query. views: dicts with name, table (path), version, join_keys, timestamp, created
    (or None), ttl_us (or None), features, output_names. The entity Parquet file carries `__row`."""
    ctes = [f"e AS (SELECT * FROM parquet.{_path(entity_path)})"]
    selects = [f"e.{_ident(c)}" for c in entity_columns]
    joins = []
    for i, v in enumerate(views):
        src = f"v{i}"
        cols = [f"{_ident(k)} AS {_ident(f'__k{j}')}" for j, k in enumerate(v["join_keys"])]
        cols.append(f"{_ident(v['timestamp'])} AS __ts")
        cols.append(f"{_ident(v['created'])} AS __cr" if v.get("created") else "CAST(NULL AS TIMESTAMP) AS __cr")
        cols += [f"{_ident(f)} AS {_ident(f'__f{j}')}" for j, f in enumerate(v["features"])]
        ctes.append(f"{src} AS (SELECT {', '.join(cols)} FROM delta.{_path(v['table'])} "
                    f"VERSION AS OF {int(v['version'])})")
        on = [f"e.{_ident(k)} = {src}.{_ident(f'__k{j}')}" for j, k in enumerate(v["join_keys"])]
        on.append(f"{src}.__ts <= e.event_timestamp")
        if v.get("ttl_us") is not None:
            on.append(f"unix_micros({src}.__ts) >= unix_micros(e.event_timestamp) - {int(v['ttl_us'])}")
        feats = ", ".join(f"{src}.{_ident(f'__f{j}')}" for j in range(len(v["features"])))
        ctes.append(
            f"p{i} AS (SELECT * FROM (SELECT e.__row AS __row, {feats}, ROW_NUMBER() OVER (PARTITION BY e.__row "
            f"ORDER BY {src}.__ts DESC, {src}.__cr DESC NULLS LAST) AS __rn FROM e JOIN {src} ON "
            f"{' AND '.join(on)}) WHERE __rn = 1)")
        joins.append(f"LEFT JOIN p{i} ON e.__row = p{i}.__row")
        selects += [f"p{i}.{_ident(f'__f{j}')} AS {_ident(o)}" for j, o in enumerate(v["output_names"])]
    return (f"WITH {', '.join(ctes)} SELECT {', '.join(selects)} FROM e {' '.join(joins)} ORDER BY e.__row")


class _SessionAdapter:
    """A pyspark SparkSession as `.sql(text) -> pyarrow.Table`."""

    def __init__(self, session):
        self.session = session

    def sql(self, text: str) -> pa.Table:
        df = self.session.sql(text)
        if hasattr(df, "toArrow"):  # Spark >= 4.0
            return df.toArrow()
        batches = df._collect_as_arrow()
        if batches:
            return pa.Table.from_batches(batches)
        from pyspark.sql.pandas.types import to_arrow_schema  # noqa: PLC0415

        return to_arrow_schema(df.schema).empty_table()


def _runner(spark: Any):
    if spark is None:
        try:
            from pyspark.sql import SparkSession  # noqa: PLC0415
        except ImportError:
            raise RuntimeError("engine='spark' needs pyspark with Delta Lake (or pass spark=<session>)") from None
        spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    if type(spark).__name__ == "SparkSession":
        return _SessionAdapter(spark)
    return spark


def historical(entity: pa.Table, views: list[dict], want_schema: pa.Schema, spark: Any = None,
               workdir: str | None = None) -> pa.Table:
    """Runs the retrieval on Spark; the result is cast to `want_schema` (the entity columns, then
    the features with their source types) so it compares equal to the engine's."""
    run = _runner(spark)
    tmp = tempfile.mkdtemp(prefix="strata-pit-", dir=workdir)
    try:
        path = os.path.join(tmp, "entity.parquet")
        rows = entity.append_column("__row", pa.array(range(entity.num_rows), pa.int64()))
        pq.write_table(rows, path)
        out = run.sql(build_sql(path, entity.column_names, views))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cols = []
    for f in want_schema:
        c = out[f.name]
        if pa.types.is_timestamp(f.type) and pa.types.is_timestamp(c.type) and f.type.tz is None and c.type.tz:
            c = c.cast(pa.timestamp(c.type.unit))  # Spark reads TIMESTAMP_NTZ as local time in UTC sessions
        cols.append(c.cast(f.type))
    return pa.Table.from_arrays(cols, schema=want_schema)

