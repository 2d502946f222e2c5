"""Data quality: expectation suites, data contracts that gate every write, profiles and drift.

    from strata import quality
    report = quality.Suite.from_yaml("suite.yaml").validate(table_or_arrow_data)
    quality.attach_contract("data/payments", "contracts/payments.yaml")
"""

from strata.quality.contract import (
    Contract,
    attach_contract,
    check_sla,
    detach_contract,
    get_contract,
    quality_results,
    quarantine,
)
from strata.quality.suite import ExpectationResult, Report, Suite

__all__ = [
    "Contract",
    "ExpectationResult",
    "Report",
    "Suite",
    "attach_contract",
    "check_sla",
    "detach_contract",
    "get_contract",
    "quality_results",
    "quarantine",
]
