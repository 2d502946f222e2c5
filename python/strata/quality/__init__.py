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
from strata.quality._drift import DriftReport, chi_square, drift, js_divergence, ks, psi
from strata.quality._profile import ColumnProfile, Profile, profile
from strata.quality.monitor import metrics_text, record_run, runs, runs_schema
from strata.quality.suite import ExpectationResult, Report, Suite

__all__ = [
    "metrics_text",
    "record_run",
    "runs",
    "runs_schema",
    "ColumnProfile",
    "Contract",
    "DriftReport",
    "Profile",
    "ExpectationResult",
    "Report",
    "Suite",
    "attach_contract",
    "check_sla",
    "chi_square",
    "drift",
    "js_divergence",
    "ks",
    "profile",
    "psi",
    "detach_contract",
    "get_contract",
    "quality_results",
    "quarantine",
]
