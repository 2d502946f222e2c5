"""Delta tables: write_table() and Table. Thin: argument checks and Arrow conversion; the engine
does the work."""

from __future__ import annotations

import datetime as _dt
import json
import re
from typing import Any, Iterable, Mapping, Optional, Sequence

import pyarrow as pa

from strata import _strata
from strata.errors import InvalidArgumentError, error_class

_DETAIL = re.compile(r"\s*Detail: (\w+)\s*$")
_PREFIX = re.compile(r"^(Invalid|IOError|Key error|Type error|NotImplemented|Not implemented): ")


def _translate(e: BaseException) -> BaseException:
    """Engine errors that cross the Arrow C stream arrive as pyarrow exceptions whose text ends in
    'Detail: <Code>'; give them their strata class back."""
    text = str(e)
    m = _DETAIL.search(text)
    if not m:
        return e
    return error_class(m.group(1))(_PREFIX.sub("", text[: m.start()]).strip())


def _guarded(reader: pa.RecordBatchReader):
    try:
        for batch in reader:
            yield batch
    except (pa.ArrowException, OSError) as e:
        translated = _translate(e)
        if translated is e:
            raise
        raise translated from None


def _as_stream_capsule(data: Any):
    """An Arrow C stream capsule for anything tabular: objects with __arrow_c_stream__ (pyarrow,
    polars, pandas >= 2.2, DuckDB results), record batches, or dict/list data pyarrow accepts."""
    if hasattr(data, "__arrow_c_stream__"):
        return data.__arrow_c_stream__()
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data]).__arrow_c_stream__()
    if isinstance(data, (dict, list)):
        return pa.table(data).__arrow_c_stream__()
    try:
        import pandas as pd  # noqa: PLC0415

        if isinstance(data, pd.DataFrame):
            return pa.Table.from_pandas(data, preserve_index=False).__arrow_c_stream__()
    except ImportError:  # pragma: no cover
        pass
    raise InvalidArgumentError(
        f"cannot write {type(data).__name__}: expected an Arrow table/stream, a DataFrame or a dict of columns"
    )


def write_table(
    path: str,
    data: Any,
    mode: str = "append",
    partition_by: Optional[Sequence[str] | str] = None,
    schema_mode: Optional[str] = None,
    replace_where: Optional[str] = None,
    configuration: Optional[Mapping[str, str]] = None,
    *,
    target_file_size: Optional[int] = None,
    name: Optional[str] = None,
    description: Optional[str] = None,
    compression: str = "snappy",
    txn: Optional[tuple[str, int]] = None,
) -> int:
    """Writes `data` to the Delta table at `path` (created if missing) and returns the new version.

    mode: "append", "overwrite", "error" (fail if the table exists) or "ignore".
    partition_by: column(s) to partition a new table by (Hive-style directories).
    schema_mode: None (strict), "merge" (add new columns, widen types) or "overwrite".
    replace_where: with mode="overwrite", replace only rows matching this SQL predicate.
    configuration: table properties, e.g. {"delta.appendOnly": "true"}.
    txn: (application id, version) recorded atomically with the data, for idempotent writers.
    """
    if isinstance(partition_by, str):
        partition_by = [partition_by]
    conf = {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (configuration or {}).items()}
    result = _strata.write_table(
        str(path),
        _as_stream_capsule(data),
        mode,
        list(partition_by or []),
        schema_mode or "",
        replace_where or "",
        conf,
        int(target_file_size or 0),
        name,
        description,
        compression,
        txn,
    )
    return result["version"]


def _to_ms(as_of: Any) -> int:
    if isinstance(as_of, str):
        text = as_of.strip().replace("Z", "+00:00")
        try:
            as_of = _dt.datetime.fromisoformat(text)
        except ValueError as e:
            raise InvalidArgumentError(f"as_of {as_of!r} is not an ISO-8601 timestamp") from e
    if isinstance(as_of, _dt.date) and not isinstance(as_of, _dt.datetime):
        as_of = _dt.datetime(as_of.year, as_of.month, as_of.day, tzinfo=_dt.timezone.utc)
    if isinstance(as_of, _dt.datetime):
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=_dt.timezone.utc)
        return int(as_of.timestamp() * 1000)
    if isinstance(as_of, (int, float)):
        return int(as_of)
    raise InvalidArgumentError(f"as_of must be a datetime or an ISO-8601 string, not {type(as_of).__name__}")


class _Stream:
    """Wraps a capsule so pyarrow.RecordBatchReader.from_stream can take it."""

    def __init__(self, capsule):
        self._capsule = capsule

    def __arrow_c_stream__(self, requested_schema=None):  # noqa: ARG002
        capsule, self._capsule = self._capsule, None
        if capsule is None:
            raise InvalidArgumentError("this stream was already consumed")
        return capsule


def _assignments(mapping: Optional[Mapping[str, str]], what: str) -> dict[str, str]:
    if not mapping:
        raise InvalidArgumentError(f"{what} needs at least one column: {{target column: SQL expression}}")
    return {str(k): str(v) for k, v in mapping.items()}


class TableMerger:
    """A MERGE being built: add WHEN clauses, then execute(). Clauses of a kind are tried in the
    order they were added; the first whose predicate holds applies. Every method returns the
    merger, so calls chain:

        t.merge(src, on="t.id = s.id", source_alias="s", target_alias="t") \
         .when_matched_update_all().when_not_matched_insert_all().execute()
    """

    def __init__(self, path: str, source: Any, on: str, source_alias: str, target_alias: str,
                 schema_mode: Optional[str], use_deletion_vectors: Optional[bool],
                 broadcast_limit_bytes: Optional[int] = None, join_partitions: Optional[int] = None):
        if not on or not str(on).strip():
            raise InvalidArgumentError("merge needs on= (the join condition, e.g. \"t.id = s.id\")")
        self._path = path
        self._source = _as_stream_capsule(source)
        self._on = str(on)
        self._source_alias = source_alias
        self._target_alias = target_alias
        self._schema_mode = schema_mode
        self._use_dv = use_deletion_vectors
        self._join = (broadcast_limit_bytes, join_partitions)
        self._clauses: list[tuple[str, str, dict[str, str], bool]] = []
        self._executed = False

    def _add(self, kind: str, predicate: Optional[str], assignments: dict[str, str], all_columns: bool) -> "TableMerger":
        self._clauses.append((kind, predicate or "", assignments, all_columns))
        return self

    def when_matched_update(self, set: Mapping[str, str], predicate: Optional[str] = None) -> "TableMerger":  # noqa: A002
        """Matched target rows: set columns to SQL expressions over target and source columns."""
        return self._add("matched_update", predicate, _assignments(set, "when_matched_update"), False)

    def when_matched_update_all(self, predicate: Optional[str] = None) -> "TableMerger":
        """Matched target rows: every target column takes the source column of the same name."""
        return self._add("matched_update", predicate, {}, True)

    def when_matched_delete(self, predicate: Optional[str] = None) -> "TableMerger":
        """Matched target rows are deleted."""
        return self._add("matched_delete", predicate, {}, False)

    def when_not_matched_insert(self, values: Mapping[str, str], predicate: Optional[str] = None) -> "TableMerger":
        """Source rows matching no target row: insert a row with these values (SQL over the
        source; columns not named are NULL)."""
        return self._add("not_matched_insert", predicate, _assignments(values, "when_not_matched_insert"), False)

    def when_not_matched_insert_all(self, predicate: Optional[str] = None) -> "TableMerger":
        """Source rows matching no target row are inserted (columns by name)."""
        return self._add("not_matched_insert", predicate, {}, True)

    def when_not_matched_by_source_update(self, set: Mapping[str, str], predicate: Optional[str] = None) -> "TableMerger":  # noqa: A002,E501
        """Target rows no source row matches: set columns to SQL expressions over the target."""
        return self._add("not_matched_by_source_update", predicate,
                         _assignments(set, "when_not_matched_by_source_update"), False)

    def when_not_matched_by_source_delete(self, predicate: Optional[str] = None) -> "TableMerger":
        """Target rows no source row matches are deleted."""
        return self._add("not_matched_by_source_delete", predicate, {}, False)

    def execute(self) -> dict[str, Any]:
        """Runs the MERGE as one commit and returns its metrics (version is -1 when nothing
        changed). A target row matched by several source rows raises InvalidArgumentError."""
        if self._executed:
            raise InvalidArgumentError("this merge was already executed (its source stream is consumed)")
        if not self._clauses:
            raise InvalidArgumentError("merge needs at least one when_... clause before execute()")
        self._executed = True
        return dict(_strata.merge(self._path, self._source, self._on, self._source_alias, self._target_alias,
                                  self._clauses, self._schema_mode, self._use_dv, *self._join))


class Table:
    """A Delta table at one version (latest by default). Immutable: reopen to see new commits.

    Table(path)                      latest version
    Table(path, version=3)           time travel by version
    Table(path, as_of="2026-01-01")  time travel by timestamp (datetime or ISO-8601 string)
    """

    def __init__(self, path: str, version: Optional[int] = None, as_of: Any = None):
        if version is not None and as_of is not None:
            raise InvalidArgumentError("give either version or as_of, not both")
        self.path = str(path)
        self._t = _strata._Table(self.path, version, None if as_of is None else _to_ms(as_of))

    # --- metadata -------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        return self._t.version

    @property
    def schema(self) -> pa.Schema:
        return pa.Schema._import_from_c_capsule(self._t.schema_capsule())

    @property
    def partition_columns(self) -> list[str]:
        return list(self._t.partition_columns)

    @property
    def properties(self) -> dict[str, str]:
        return dict(self._t.properties)

    @property
    def protocol(self) -> dict[str, Any]:
        r, w = self._t.protocol_versions
        return {
            "min_reader_version": r,
            "min_writer_version": w,
            "reader_features": list(self._t.reader_features),
            "writer_features": list(self._t.writer_features),
        }

    @property
    def timestamp(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self._t.timestamp_ms / 1000, tz=_dt.timezone.utc)

    def history(self, limit: Optional[int] = None) -> list[dict[str, Any]]:
        """Commits, newest first: version, timestamp, operation, parameters, metrics, and
        `quality` (the data contract's verdict) on commits a contract gated."""
        out = []
        for h in self._t.history(int(limit or 0)):
            info = json.loads(h["commit_info"] or "{}")
            entry = {
                "version": h["version"],
                "timestamp": _dt.datetime.fromtimestamp(h["timestamp_ms"] / 1000, tz=_dt.timezone.utc),
                "operation": info.get("operation"),
                "operationParameters": info.get("operationParameters", {}),
                "operationMetrics": info.get("operationMetrics", {}),
                "engineInfo": info.get("engineInfo"),
            }
            if "strataQuality" in info:  # the data contract's verdict on this commit
                entry["quality"] = info["strataQuality"]
            out.append(entry)
        return out

    def files(self) -> list[dict[str, Any]]:
        """The live data files: path, size, partition values, row count."""
        return list(self._t.files())

    def count(self) -> int:
        """Number of rows (from statistics when every file has them)."""
        n = self._t.num_records
        if n is not None:
            return n
        return self.to_arrow(columns=self.schema.names[:1]).num_rows

    # --- data -----------------------------------------------------------------------------------
    def to_reader(self, columns: Optional[Iterable[str]] = None, filter: Optional[str] = None) -> pa.RecordBatchReader:
        """Streams rows as Arrow batches. filter: a SQL boolean expression."""
        capsule = self._t.scan(list(columns or []), filter)
        reader = pa.RecordBatchReader.from_stream(_Stream(capsule))
        return pa.RecordBatchReader.from_batches(reader.schema, _guarded(reader))

    def to_arrow(self, columns: Optional[Iterable[str]] = None, filter: Optional[str] = None) -> pa.Table:
        """All (matching) rows as a pyarrow.Table."""
        return self.to_reader(columns, filter).read_all()

    def to_pandas(self, columns: Optional[Iterable[str]] = None, filter: Optional[str] = None):
        return self.to_arrow(columns, filter).to_pandas()

    def __arrow_c_stream__(self, requested_schema=None):
        """Arrow PyCapsule protocol: duckdb, polars and pyarrow read the table directly."""
        capsule = self._t.scan([], None)
        if requested_schema is not None:
            reader = pa.RecordBatchReader.from_stream(_Stream(capsule))
            return reader.cast(pa.Schema._import_from_c_capsule(requested_schema)).__arrow_c_stream__()
        return capsule

    def scan_plan(self, filter: Optional[str] = None) -> dict[str, int]:
        """How many files a filter leaves to open (data skipping), before reading any."""
        total, kept = self._t.plan(filter)
        return {"files_total": total, "files_to_read": kept, "files_skipped": total - kept}

    # --- changes (each commits a new version of the table at `path`) ------------------------------
    def delete(self, predicate: Optional[str] = None) -> dict[str, int]:
        """Deletes the rows matching `predicate` (SQL; every row when None) from the latest
        version. Whole files are dropped without rewriting; with delta.enableDeletionVectors the
        rest are marked in deletion vectors, else rewritten. Returns the operation metrics."""
        return dict(_strata.delete_rows(self.path, predicate or ""))

    def update(self, predicate: Optional[str] = None, set: Optional[Mapping[str, str]] = None) -> dict[str, int]:  # noqa: A002
        """Sets columns to SQL expressions where `predicate` holds (every row when None), e.g.
        t.update("city = 'paris'", set={"fare": "fare * 1.1"}). Returns the operation metrics."""
        if not set:
            raise InvalidArgumentError("update needs set={column: SQL expression}")
        return dict(_strata.update_rows(self.path, predicate or "", {str(k): str(v) for k, v in set.items()}))

    def merge(self, source: Any, on: str, source_alias: str = "source", target_alias: str = "target",
              schema_mode: Optional[str] = None, use_deletion_vectors: Optional[bool] = None,
              broadcast_limit_bytes: Optional[int] = None, join_partitions: Optional[int] = None) -> TableMerger:
        """Starts a MERGE of `source` (an Arrow table/stream, a DataFrame, ...) into the latest
        version. `on` is the join condition with columns qualified by the aliases. With
        schema_mode="merge", *_all clauses add source columns the table lacks.

        A source up to broadcast_limit_bytes (default 1 GiB of Arrow buffers) is joined in memory;
        a larger one is spilled to join_partitions (default 8) files by key hash and joined one
        partition at a time, bounding memory to about one partition."""
        return TableMerger(self.path, source, on, source_alias, target_alias, schema_mode, use_deletion_vectors,
                           broadcast_limit_bytes, join_partitions)

    def optimize(self, z_order: Optional[Sequence[str] | str] = None, target_size: Optional[int] = None,
                 partition_filter: Optional[str] = None) -> dict[str, int]:
        """Compacts small files into files of about `target_size` bytes (default: the table's
        delta.targetFileSize, else 128 MiB), per partition; with z_order=[columns], rewrites each
        partition clustered along a Z-order curve of those columns, so filters on any of them skip
        more files. Rows do not change (the commit is dataChange=false: concurrent appends never
        conflict). partition_filter (SQL over partition columns) limits it to some partitions.
        Returns the operation metrics (version -1: nothing to do)."""
        if isinstance(z_order, str):
            z_order = [z_order]
        return dict(_strata.optimize(self.path, None if target_size is None else int(target_size),
                                     [str(c) for c in (z_order or [])], partition_filter or ""))

    def changes(self, start_version: int, end_version: Optional[int] = None) -> pa.Table:
        """The change data feed of versions start_version..end_version (inclusive; default: this
        table's version): every inserted, deleted and updated row with `_change_type` (insert,
        delete, update_preimage, update_postimage), `_commit_version` and `_commit_timestamp`.
        Needs delta.enableChangeDataFeed=true over the range."""
        end = self.version if end_version is None else int(end_version)
        return pa.RecordBatchReader.from_stream(_Stream(_strata.changes(self.path, int(start_version), end))).read_all()

    def restore(self, version: Optional[int] = None, as_of: Any = None) -> dict[str, int]:
        """Makes the latest version equal to an earlier `version` (or the version current at
        `as_of`), as a new commit; history is kept. Returns the operation metrics."""
        if (version is None) == (as_of is None):
            raise InvalidArgumentError("give exactly one of version or as_of")
        return dict(_strata.restore(self.path, version, None if as_of is None else _to_ms(as_of)))

    def vacuum(self, retention_hours: float = 168, dry_run: bool = False, force: bool = False) -> list[str]:
        """Deletes files no version within `retention_hours` references (and older than that).
        A retention shorter than the table's delta.deletedFileRetentionDuration needs force=True.
        Returns the files deleted (or, with dry_run, that would be)."""
        return list(_strata.vacuum(self.path, float(retention_hours), bool(dry_run), bool(force)))

    def set_properties(self, properties: Mapping[str, Any]) -> int:
        """Sets table properties, e.g. {"delta.appendOnly": "true"}; returns the new version.
        A new CHECK constraint (delta.constraints.NAME) is verified against the existing rows."""
        conf = {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in properties.items()}
        return _strata.set_properties(self.path, conf)

    def checkpoint(self) -> None:
        """Writes a checkpoint of this version (readers then replay less log)."""
        self._t.checkpoint()

    def __repr__(self) -> str:
        return f"strata.Table({self.path!r}, version={self.version})"
