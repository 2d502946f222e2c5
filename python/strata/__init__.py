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
from strata.features import FeatureStore

__version__ = "0.1.0"

__all__ = [
    "FeatureStore",
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
