"""Data contracts: a table's promised schema, rules, owner and SLAs, enforced on every write.

    strata.quality.attach_contract("data/payments", "contracts/payments.yaml")
    strata.write_table("data/payments", batch)        # checked before it commits
    strata.quality.quarantine("data/payments")        # rows kept out, with the reasons
    strata.quality.quality_results("data/payments")   # every gated write's results, by version

The contract file (see ARCHITECTURE.md and `strata.quality.Contract`):

    name: payments
    owner: data-platform
    schema:
      - {name: id, type: int64, nullable: false}
      - {name: amount, type: float64}
    expectations:
      - {type: between, column: amount, min: 0, max: 10000}
    on_fail: quarantine                # or reject (default)
    sla: {freshness: {column: ts, max_age: 2h}, completeness: 0.99}

With `reject` a failing write raises `strata.ExpectationFailedError` and the table is unchanged.
With `quarantine` the rows failing a row-level rule go to the table `<table>/_strata/quarantine`
(with `_quarantine_reason`) and the rest is published. UPDATE and MERGE cannot quarantine (the
new image of a row would be lost) and are refused instead. Aggregate rules (row counts, means)
can only reject. The contract lives in `<table>/_strata/contract.yaml`; Delta readers ignore it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Union

from strata import _strata
from strata.table import Table

QUARANTINE_TABLE = "_strata/quarantine"
RESULTS_TABLE = "_strata/quality_results"

PathLike = Union[str, os.PathLike, Table]


def _path(table: PathLike) -> str:
    if isinstance(table, Table):
        return table.path
    return os.fspath(table)


def _yaml_text(contract: Union[str, os.PathLike, "Contract"]) -> tuple[str, str]:
    """(text, source) of a contract given as a Contract, a file path, or YAML text."""
    if isinstance(contract, Contract):
        return contract.yaml, contract.source
    if isinstance(contract, os.PathLike) or (isinstance(contract, str) and "\n" not in contract
                                             and Path(contract).is_file()):
        p = Path(contract)
        return p.read_text(), str(p)
    if isinstance(contract, str) and "\n" in contract:
        return contract, "<string>"
    raise FileNotFoundError(f"contract file not found: {contract}")


class Contract:
    """A parsed data contract. `Contract.from_yaml(path)` checks it (unknown keys, bad types,
    unknown expectations: errors name the file and line)."""

    def __init__(self, yaml: str, source: str = "<string>"):
        info = _strata.check_contract(yaml, source)
        self.yaml = yaml
        self.source = source
        self.name: str = info["name"]
        self.owner: str = info["owner"]
        self.on_fail: str = info["on_fail"]
        self.schema: list[dict[str, Any]] = info["schema"]
        self.num_expectations: int = info["expectations"]

    @classmethod
    def from_yaml(cls, path: Union[str, os.PathLike]) -> "Contract":
        p = Path(path)
        return cls(p.read_text(), str(p))

    def __repr__(self) -> str:
        return (f"<Contract {self.name!r} owner={self.owner!r} on_fail={self.on_fail} "
                f"columns={len(self.schema)} expectations={self.num_expectations}>")


def attach_contract(table: PathLike, contract: Union[str, os.PathLike, Contract]) -> Contract:
    """Attaches a contract (a Contract, a YAML file path or YAML text) to a table, after checking
    that it parses and that the table's schema conforms. Replaces an earlier contract."""
    text, source = _yaml_text(contract)
    parsed = Contract(text, source)
    _strata.attach_contract(_path(table), text)
    return parsed


def detach_contract(table: PathLike) -> None:
    """Removes the table's contract: writes are no longer gated."""
    _strata.detach_contract(_path(table))


def get_contract(table: PathLike) -> Optional[Contract]:
    """The table's contract, or None."""
    text = _strata.get_contract(_path(table))
    return None if text is None else Contract(text, _path(table) + "/_strata/contract.yaml")


def _subtable(table: PathLike, rel: str) -> Optional[Table]:
    p = _path(table).rstrip("/") + "/" + rel
    try:
        return Table(p)
    except Exception as e:  # noqa: BLE001 - no such table yet: nothing recorded
        from strata.errors import NotATableError

        if isinstance(e, NotATableError):
            return None
        raise


def quarantine(table: PathLike) -> Optional[Table]:
    """The table's quarantine table (rows kept out by the contract, with `_quarantine_reason`,
    `_quarantine_operation`, `_quarantine_write_id`, `_quarantine_read_version`,
    `_quarantined_at`), or None when nothing was ever quarantined."""
    return _subtable(table, QUARANTINE_TABLE)


def quality_results(table: PathLike) -> Optional[Table]:
    """The results of every gated write (one row per rule: `table_version`, `expectation`,
    `success`, `unexpected_count`, `observed_value`, ...), or None before the first one."""
    return _subtable(table, RESULTS_TABLE)


def check_sla(table: PathLike) -> dict[str, Any]:
    """Evaluates the contract's SLA (freshness, completeness) over the table's latest version;
    returns the report as a dict (`success`, `results`)."""
    return json.loads(_strata.check_sla(_path(table)))
