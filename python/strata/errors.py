"""Exceptions raised by strata. Every engine error carries a domain code; each code has a class."""


class StrataError(Exception):
    """Base class of every strata error."""


class CommitConflictError(StrataError):
    """Another writer committed something this operation contradicts; the table is unchanged."""


class CommitStateUnknownError(StrataError):
    """It is unknown whether the commit landed (e.g. storage failed mid-request)."""


class SchemaMismatchError(StrataError, TypeError):
    """The data does not fit the table schema."""


class ExpectationFailedError(StrataError):
    """A constraint, invariant or quality gate rejected the data; nothing was committed."""


class CorruptLogError(StrataError):
    """The Delta log (or a data file it points to) is unreadable or inconsistent."""


class NotATableError(StrataError, FileNotFoundError):
    """The path holds no Delta table."""


class UnsupportedFeatureError(StrataError, NotImplementedError):
    """The table uses a protocol feature strata does not implement (named in the message)."""


class InvalidArgumentError(StrataError, ValueError):
    """Bad input: an expression, option, property or path."""


class VersionNotFoundError(StrataError, LookupError):
    """Time travel to a version or timestamp the table does not have."""


_BY_CODE = {
    "CommitConflict": CommitConflictError,
    "CommitStateUnknown": CommitStateUnknownError,
    "SchemaMismatch": SchemaMismatchError,
    "ExpectationFailed": ExpectationFailedError,
    "CorruptLog": CorruptLogError,
    "NotATable": NotATableError,
    "UnsupportedFeature": UnsupportedFeatureError,
    "InvalidArgument": InvalidArgumentError,
    "VersionNotFound": VersionNotFoundError,
}


def error_class(code: str) -> type:
    """The exception class for an engine error code (used by the extension)."""
    return _BY_CODE.get(code, StrataError)
