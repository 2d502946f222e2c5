"""strata: lakehouse tables (Delta Lake), batch processing, features and data quality on one
C++ engine. See README.md for a tour."""

from strata.errors import (
    CommitConflictError,
    CommitStateUnknownError,
    CorruptLogError,
    ExpectationFailedError,
    InvalidArgumentError,
    NotATableError,
    SchemaMismatchError,
    StrataError,
    UnsupportedFeatureError,
    VersionNotFoundError,
)
from strata.table import Table, TableMerger, write_table

__version__ = "0.1.0"

__all__ = [
    "Table",
    "TableMerger",
    "write_table",
    "StrataError",
    "CommitConflictError",
    "CommitStateUnknownError",
    "CorruptLogError",
    "ExpectationFailedError",
    "InvalidArgumentError",
    "NotATableError",
    "SchemaMismatchError",
    "UnsupportedFeatureError",
    "VersionNotFoundError",
]
