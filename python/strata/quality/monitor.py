"""Run monitoring: every write records a run (rows in/out/rejected, duration, newest event time).

    strata.write_table("data/clicks", batch)             # recorded
    strata.quality.runs("data/clicks")                   # one row per run, as a pyarrow.Table
    print(strata.quality.metrics_text())                 # Prometheus text of this process
    strata.quality.record_run("data/clicks", "INGEST",   # runs made outside strata's write paths
                              source="stream:clicks", rows_in=1000, rows_out=998, rows_rejected=2,
                              duration_s=1.5, newest_event=datetime.now(timezone.utc))

Each append, overwrite, MERGE, UPDATE, DELETE and OPTIMIZE of this process is recorded, failed
ones too (a write refused by a contract: success=False, every row offered rejected; quarantined
rows: rows_rejected of a successful run). Runs are aggregated in the process (`metrics_text()`,
Prometheus text format 0.0.4) and appended to the table's runs table `<table>/_strata/runs`, a
Delta table other engines read too. Columns: run_id, table, operation, source, version, rows_in,
rows_out, rows_rejected, started_at, duration_ms, newest_event, success, error.

The newest event time is the maximum, over the rows a run published, of the table's event-time
column: the table property `strata.eventTimeColumn`, else the freshness column of its contract's
SLA, else its first timestamp column. Set `strata.runs.record=false` on a table to keep its runs
out of its runs table (they are still counted in the metrics). Recording never fails a write.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Optional, Union

import pyarrow as pa

from strata import _strata
from strata.table import Table

RUNS_TABLE = "_strata/runs"
EVENT_TIME_PROPERTY = "strata.eventTimeColumn"
RECORD_PROPERTY = "strata.runs.record"

PathLike = Union[str, os.PathLike, Table]
Instant = Union[datetime, str, int, float]


def _path(table: PathLike) -> str:
    if isinstance(table, Table):
        return table.path
    return os.fspath(table)


def runs_schema() -> pa.Schema:
    """The schema of a runs table."""
    return pa.Schema._import_from_c_capsule(_strata.runs_schema_capsule())


def runs(table: PathLike, limit: Optional[int] = None) -> pa.Table:
    """The runs recorded for `table`, oldest first (the `limit` most recent when given); an empty
    table with the runs schema before the first one."""
    from strata.errors import NotATableError  # noqa: PLC0415

    try:
        data = Table(_path(table).rstrip("/") + "/" + RUNS_TABLE).to_arrow()
    except NotATableError:
        return runs_schema().empty_table()
    data = data.sort_by([("started_at", "ascending"), ("run_id", "ascending")])
    if limit is not None:
        data = data.slice(max(0, data.num_rows - limit))
    return data


def metrics_text() -> str:
    """The run metrics of this process in the Prometheus text exposition format (0.0.4):
    strata_runs_total, strata_runs_failed_total, strata_run_rows_{in,out,rejected}_total,
    strata_run_duration_seconds (histogram), strata_run_last_success_timestamp_seconds,
    strata_run_newest_event_timestamp_seconds, strata_table_freshness_seconds."""
    return _strata.run_metrics_text()


def _micros(t: Instant) -> int:
    """Microseconds since the epoch of a datetime (naive = UTC), ISO-8601 string, or epoch seconds."""
    if isinstance(t, str):
        t = datetime.fromisoformat(t.replace("Z", "+00:00"))
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        delta = t - datetime(1970, 1, 1, tzinfo=timezone.utc)
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(t, (int, float)):
        return int(round(t * 1_000_000))
    raise TypeError(f"expected a datetime, an ISO-8601 string or epoch seconds, not {type(t).__name__}")


def record_run(
    table: PathLike,
    operation: str,
    *,
    source: str = "external",
    rows_in: int = 0,
    rows_out: int = 0,
    rows_rejected: int = 0,
    started: Optional[Instant] = None,
    duration_s: float = 0.0,
    newest_event: Optional[Instant] = None,
    success: bool = True,
    error: Optional[str] = None,
    version: Optional[int] = None,
) -> None:
    """Records a run that did not go through strata's write paths (an ingest job, a pipeline
    step): counted in `metrics_text()` and appended to the table's runs table like the engine's
    own runs. `source` names the writer ("stream:<topic>", "pipeline:<step>"); `started` defaults
    to now minus `duration_s`; `newest_event` is the newest event time the run published."""
    duration_us = int(round(duration_s * 1_000_000))
    started_us = _micros(started) if started is not None else int(time.time() * 1_000_000) - duration_us
    _strata.record_run(
        _path(table), operation, source, -1 if version is None else int(version), int(rows_in), int(rows_out),
        int(rows_rejected), started_us, duration_us, None if newest_event is None else _micros(newest_event),
        bool(success), error or "")
