"""Expectation suites: declare what data must look like, validate it, read the report.

    suite = Suite.from_yaml("checks/transactions.yaml")
    report = suite.validate("data/transactions")          # a strata table (latest version)
    report = suite.validate(pyarrow_table)                  # or anything with __arrow_c_stream__
    if not report.success:
        print(report)                                       # one line per expectation
    report.to_json()

Or in code, with the same dicts as in YAML:

    Suite("orders", expectations=[
        {"type": "not_null", "column": "order_id"},
        {"type": "between", "column": "amount", "min": 0, "max": 10_000, "mostly": 0.99},
    ])

Thin: the engine (C++) parses, validates in one multi-threaded pass over the data, and writes the
JSON. `expectation_types()` lists every expectation type with its arguments.

Counting rules: `unexpected_percent` is over the rows an expectation looks at, i.e. the
non-null rows (every row for `not_null`); nulls are never unexpected except for `not_null`;
`mostly` is the fraction of those rows that must pass; for `unique` every row whose value occurs
more than once is unexpected. NaN is a value, not a null (it fails `between`, and makes mean,
stdev, median and friends NaN, which fails them). Aggregates over no values fail with
`observed_value` None; row-level expectations over no rows succeed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from typing import Any, Iterable, Mapping, Optional

import pyarrow as pa

from strata import _strata
from strata.errors import InvalidArgumentError

__all__ = ["Suite", "Report", "ExpectationResult", "expectation_types"]

# Attributes of a result that are not the expectation's own arguments.
_RESULT_FIELDS = (
    "type",
    "name",
    "column",
    "columns",
    "success",
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "observed_value",
    "unexpected_samples",
    "origin",
    "error",
)


def expectation_types() -> list[dict]:
    """Every expectation type: {"name", "kind" (row/aggregate/schema), "doc", "arguments"}."""
    return list(_strata.expectation_types())


def _now_us(now: Any) -> Optional[int]:
    if now is None:
        return None
    if isinstance(now, str):
        now = _dt.datetime.fromisoformat(now.strip().replace("Z", "+00:00"))
    if isinstance(now, _dt.datetime):
        if now.tzinfo is None:
            now = now.replace(tzinfo=_dt.timezone.utc)
        return int(round(now.timestamp() * 1_000_000))
    if isinstance(now, (int, float)):
        return int(now * 1_000_000)
    raise InvalidArgumentError(f"now must be a datetime, an ISO-8601 string or epoch seconds, not {type(now).__name__}")


class ExpectationResult:
    """The outcome of one expectation.

    Attributes: type, name, column (None for table-level and multi-column ones), columns,
    success, element_count (rows looked at), unexpected_count, unexpected_percent (over
    element_count, i.e. non-null rows), observed_value (the statistic; for row-level
    expectations the fraction of rows that passed), unexpected_samples (a few failing values in
    data order; dicts for multi-column ones), origin ("file:line"), error (why it could not be
    evaluated), kwargs (the declaration's arguments). Every argument is also an attribute:
    `result.min`, `result.mostly`, ...
    """

    def __init__(self, d: Mapping[str, Any]):
        self.type: str = d["type"]
        self.name: str = d["name"]
        self.column: Optional[str] = d["column"]
        self.columns: list[str] = list(d["columns"])
        self.kwargs: dict[str, Any] = dict(d["kwargs"])
        self.origin: Optional[str] = d["origin"]
        self.success: bool = d["success"]
        self.element_count: Optional[int] = d["element_count"]
        self.unexpected_count: Optional[int] = d["unexpected_count"]
        self.unexpected_percent: Optional[float] = d["unexpected_percent"]
        self.observed_value: Any = d["observed_value"]
        self.error: Optional[str] = d["error"]
        samples = d["samples"]
        self.unexpected_samples: list = (
            pa.Array._import_from_c_capsule(samples[0], samples[1]).to_pylist() if samples is not None else []
        )

    def __getattr__(self, name: str) -> Any:
        kwargs = self.__dict__.get("kwargs", {})
        if name in kwargs:
            return kwargs[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """The result as a dict (sample values as Python objects: datetimes stay datetimes)."""
        d = {k: getattr(self, k) for k in _RESULT_FIELDS}
        d["kwargs"] = dict(self.kwargs)
        return d

    def __repr__(self) -> str:
        status = "PASS" if self.success else "FAIL"
        if self.error:
            detail = f"error={self.error!r}"
        elif self.unexpected_count is not None:
            detail = f"unexpected={self.unexpected_count}/{self.element_count}"
        else:
            detail = f"observed={self.observed_value!r}"
        return f"<ExpectationResult {status} {self.name} {detail}>"


class Report:
    """The outcome of validating one data set: `success` (every expectation passed), `results`
    (one ExpectationResult per expectation, in suite order), `row_count`, `suite_name`,
    `table_path`/`table_version` (when a table was validated), `elapsed_seconds`."""

    def __init__(self, native):
        self._r = native
        self.success: bool = native.success
        self.row_count: int = native.row_count
        self.suite_name: str = native.suite_name
        self.table_path: Optional[str] = native.table_path
        self.table_version: Optional[int] = native.table_version
        self.elapsed_seconds: float = native.elapsed_seconds
        self.results: list[ExpectationResult] = [ExpectationResult(d) for d in native.results()]

    @property
    def failed(self) -> list[ExpectationResult]:
        """The results that did not succeed."""
        return [r for r in self.results if not r.success]

    @property
    def statistics(self) -> dict[str, int]:
        n_failed = len(self.failed)
        return {"evaluated": len(self.results), "successful": len(self.results) - n_failed, "unsuccessful": n_failed}

    def to_json(self, indent: Optional[int] = None) -> str:
        """The report as JSON (written by the engine; sample timestamps as ISO-8601 text, NaN as
        the string "NaN")."""
        text = self._r.to_json()
        return text if indent is None else json.dumps(json.loads(text), indent=indent)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-compatible data (json.loads of to_json())."""
        return json.loads(self._r.to_json())

    def to_html(self, path: str | os.PathLike, profile: Any = None, drift: Any = None,
                title: Optional[str] = None) -> str:
        """Writes the report as one self-contained HTML file (inline CSS and SVG, nothing loaded
        from the network) and returns the path: the verdict and counts, a table of the results with
        the failing ones' sample values, and, when given, the charts and statistics of a Profile
        (quality.profile) and a DriftReport (quality.drift(..., histograms=True) to draw its
        histograms). See strata.quality.html_report."""
        from strata.quality import html_report  # noqa: PLC0415

        return html_report.write_html(path, self, profile=profile, drift=drift, title=title)

    def summary(self) -> str:
        """One line per expectation: PASS/FAIL, name, unexpected counts or the observed value."""
        return self._r.to_string()

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        s = self.statistics
        return (f"<Report {self.suite_name!r} {'PASSED' if self.success else 'FAILED'}: "
                f"{s['unsuccessful']} of {s['evaluated']} failed, {self.row_count} rows>")


class Suite:
    """A named list of expectations. Build one from YAML (`Suite.from_yaml(path)`) or from
    dicts shaped like the YAML entries: `Suite("name", expectations=[{"type": ..., ...}])`.
    Bad declarations raise InvalidArgumentError naming the file, line and expectation."""

    def __init__(self, name: str = "suite", expectations: Iterable[Mapping[str, Any]] = (), *,
                 base_dir: Optional[str] = None, _native=None):
        if _native is not None:
            self._s = _native
            return
        items = []
        for i, e in enumerate(expectations, 1):
            if not isinstance(e, Mapping):
                raise InvalidArgumentError(
                    f"expectation {i} must be a dict such as {{'type': 'not_null', 'column': 'id'}}, got {e!r}")
            items.append(dict(e))
        self._s = _strata._QualitySuite.make(str(name), items, str(base_dir or ""))

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "Suite":
        """Reads a suite file (`name:` and `expectations:`). Relative `table:` paths (exists_in) are
        resolved against the file's directory."""
        return cls(_native=_strata._QualitySuite.from_yaml_file(os.fspath(path)))

    @classmethod
    def from_yaml_string(cls, text: str, source: str = "<string>") -> "Suite":
        """Parses suite YAML text; `source` names it in error messages."""
        return cls(_native=_strata._QualitySuite.from_yaml_string(text, source))

    @property
    def name(self) -> str:
        return self._s.name

    @property
    def expectations(self) -> list[dict[str, Any]]:
        """The declarations, as dicts (type plus arguments)."""
        return list(self._s.expectations())

    @property
    def required_columns(self) -> list[str]:
        """The data columns the suite reads."""
        return list(self._s.required_columns())

    def validate(self, data: Any, version: Optional[int] = None, *, max_samples: int = 5,
                 threads: Optional[int] = None, now: Any = None) -> Report:
        """Validates `data` and returns a Report.

        data: a strata table path (str or os.PathLike), a strata.Table, or anything with
        __arrow_c_stream__ (pyarrow Table/RecordBatchReader, polars, DuckDB results), a pyarrow
        RecordBatch, a pandas DataFrame or a dict of columns.
        version: with a table path, the version to validate (latest by default).
        max_samples: failing values kept per expectation. threads: worker threads (default: one
        per core). now: the time `freshness` compares with (datetime, ISO string; default: now).
        """
        now_us = _now_us(now)
        thr = int(threads or 0)
        if isinstance(data, (str, os.PathLike)):
            return Report(self._s.validate_table(os.fspath(data), version, max_samples, thr, now_us))
        from strata.table import Table, _as_stream_capsule  # noqa: PLC0415

        if isinstance(data, Table):
            v = data.version if version is None else version
            return Report(self._s.validate_table(data.path, v, max_samples, thr, now_us))
        if version is not None:
            raise InvalidArgumentError("version= applies to strata tables (a path or strata.Table), not to in-memory data")
        return Report(self._s.validate_stream(_as_stream_capsule(data), max_samples, thr, now_us))

    def failing_rows(self, data: Any) -> pa.Table:
        """Per-row outcome of the row-level expectations (for quality gates): a table with one row
        per input row, `failed` (bool) and `reasons` (names of the failed expectations joined by
        "; ", null when the row passes). Expectations comparing rows (unique, increasing) look
        within each input batch only; aggregates are ignored."""
        from strata.table import _as_stream_capsule  # noqa: PLC0415

        return _read_stream(self._s.failing_rows(_as_stream_capsule(data)))

    def __repr__(self) -> str:
        return f"<Suite {self.name!r}: {len(self.expectations)} expectations>"


class _Stream:
    """Wraps an Arrow C stream capsule so pyarrow can read it (__arrow_c_stream__ protocol)."""

    def __init__(self, capsule):
        self._capsule = capsule

    def __arrow_c_stream__(self, requested_schema=None):
        return self._capsule


def _read_stream(capsule) -> pa.Table:
    return pa.RecordBatchReader.from_stream(_Stream(capsule)).read_all()
