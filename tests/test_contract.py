"""Data contracts and quality gates end to end: every write path, reject and quarantine, the
results table, and what other readers see."""

import random

import pyarrow as pa
import pytest

import strata
from strata import quality

CONTRACT = """\
name: payments
owner: data-platform
schema:
  - {{name: id, type: int64, nullable: false}}
  - {{name: amount, type: float64}}
  - {{name: currency, type: string}}
expectations:
  - {{type: between, column: amount, min: 0, max: 1000}}
  - {{type: in_set, column: currency, values: [EUR, USD]}}
  - {{type: row_count_between, min: 1}}
on_fail: {on_fail}
"""


def rows(ids, amounts, currencies):
    return pa.table({"id": pa.array(ids, pa.int64()), "amount": pa.array(amounts, pa.float64()),
                     "currency": pa.array(currencies, pa.string())})


@pytest.fixture
def table(tmp_path):
    p = str(tmp_path / "payments")
    strata.write_table(p, rows([1, 2], [10.0, 20.0], ["EUR", "USD"]))
    return p


def good(row):
    _, amount, currency = row
    return (amount is None or 0 <= amount <= 1000) and (currency is None or currency in ("EUR", "USD"))


def random_batch(rng, start, n):
    ids = list(range(start, start + n))
    amounts = [rng.choice([None, rng.uniform(-50, 1100), rng.uniform(0, 1000)]) for _ in ids]
    currencies = [rng.choice([None, "EUR", "USD", "GBP"]) for _ in ids]
    return ids, amounts, currencies


def test_reject_leaves_table_unchanged(table):
    quality.attach_contract(table, CONTRACT.format(on_fail="reject"))
    with pytest.raises(strata.ExpectationFailedError, match=r"between\(amount\)"):
        strata.write_table(table, rows([3, 4], [30.0, 5000.0], ["EUR", "EUR"]))
    t = strata.Table(table)
    assert t.version == 0
    assert t.to_arrow().num_rows == 2
    assert quality.quarantine(table) is None


def test_quarantine_publishes_exactly_the_passing_rows(table):
    """Random batches: the table gets exactly the rows a brute-force check passes, the
    quarantine table exactly the others, with reasons; results are recorded per version."""
    quality.attach_contract(table, CONTRACT.format(on_fail="quarantine"))
    rng = random.Random(7)
    expect_pub = {1: (10.0, "EUR"), 2: (20.0, "USD")}
    expect_q = {}
    start = 10
    for _ in range(8):
        ids, amounts, currencies = random_batch(rng, start, rng.randint(1, 40))
        start += 100
        batch = list(zip(ids, amounts, currencies))
        if not any(good(r) for r in batch):
            # Everything quarantined: the aggregate rule (row_count >= 1) rejects the write.
            with pytest.raises(strata.ExpectationFailedError):
                strata.write_table(table, rows(ids, amounts, currencies))
            continue
        strata.write_table(table, rows(ids, amounts, currencies))
        for r in batch:
            (expect_pub if good(r) else expect_q)[r[0]] = (r[1], r[2])
    got = strata.Table(table).to_arrow().to_pylist()
    assert {r["id"]: (r["amount"], r["currency"]) for r in got} == expect_pub
    q = quality.quarantine(table)
    qrows = q.to_arrow().to_pylist() if q else []
    assert {r["id"]: (r["amount"], r["currency"]) for r in qrows} == expect_q
    for r in qrows:
        reasons = r["_quarantine_reason"]
        amount_bad = r["amount"] is not None and not 0 <= r["amount"] <= 1000
        currency_bad = r["currency"] is not None and r["currency"] not in ("EUR", "USD")
        assert ("between(amount)" in reasons) == amount_bad, r
        assert ("in_set(currency)" in reasons) == currency_bad, r
    # "Which checks passed on the data of version v" is one query on the results table.
    res = quality.quality_results(table).to_arrow().to_pylist()
    versions = {h["version"] for h in strata.Table(table).history() if h["version"] > 0}
    assert {r["table_version"] for r in res} == versions
    for v in versions:
        mine = [r for r in res if r["table_version"] == v]
        assert {r["expectation"] for r in mine} == {"between(amount)", "in_set(currency)", "row_count_between()"}
        assert all(r["success"] for r in mine)
    last = strata.Table(table).history(1)[0]
    assert last["quality"]["contract"] == "payments"
    assert last["quality"]["rowsChecked"] == last["quality"]["rowsQuarantined"] + int(
        last["operationMetrics"]["numOutputRows"])


def test_update_and_merge_are_gated_and_cannot_quarantine(table):
    quality.attach_contract(table, CONTRACT.format(on_fail="quarantine"))
    t = strata.Table(table)
    with pytest.raises(strata.ExpectationFailedError, match="cannot quarantine"):
        t.update("id = 1", set={"amount": "amount * 1000"})
    src = rows([2, 9], [25.0, -9.0], ["EUR", "EUR"])
    with pytest.raises(strata.ExpectationFailedError):
        t.merge(src, on="t.id = s.id", source_alias="s", target_alias="t") \
            .when_matched_update_all().when_not_matched_insert_all().execute()
    assert strata.Table(table).version == 0
    src = rows([2, 9], [25.0, 9.0], ["EUR", "EUR"])
    strata.Table(table).merge(src, on="t.id = s.id", source_alias="s", target_alias="t") \
        .when_matched_update_all().when_not_matched_insert_all().execute()
    assert sorted(r["amount"] for r in strata.Table(table).to_arrow().to_pylist()) == [9.0, 10.0, 25.0]


def test_not_null_and_schema_are_enforced(table):
    quality.attach_contract(table, CONTRACT.format(on_fail="quarantine"))
    with pytest.raises(strata.ExpectationFailedError, match="NOT NULL"):
        strata.write_table(table, pa.table({"id": pa.array([None], pa.int64()), "amount": [1.0],
                                            "currency": ["EUR"]}))
    assert strata.Table(table).version == 0


def test_other_readers_see_only_published_rows(table):
    from deltalake import DeltaTable

    quality.attach_contract(table, CONTRACT.format(on_fail="quarantine"))
    strata.write_table(table, rows([3, 4], [30.0, -1.0], ["EUR", "EUR"]))
    ids = sorted(DeltaTable(table).to_pyarrow_table().column("id").to_pylist())
    assert ids == [1, 2, 3]
    strata.Table(table).vacuum(retention_hours=0, force=True)
    assert quality.quarantine(table).to_arrow().num_rows == 1  # VACUUM leaves _strata/ alone


def test_attach_checks_and_errors(table, tmp_path):
    bad = CONTRACT.format(on_fail="reject").replace("name: currency", "name: curr")
    with pytest.raises(strata.SchemaMismatchError, match="column 'curr'"):
        quality.attach_contract(table, bad)
    f = tmp_path / "c.yaml"
    f.write_text("name: x\nschema:\n  - {name: id}\n")
    with pytest.raises(strata.InvalidArgumentError, match=r"c\.yaml:3"):
        quality.attach_contract(table, f)
    assert quality.get_contract(table) is None
    quality.attach_contract(table, CONTRACT.format(on_fail="reject"))
    c = quality.get_contract(table)
    assert c.name == "payments" and c.on_fail == "reject" and len(c.schema) == 3
    quality.detach_contract(table)
    strata.write_table(table, rows([5], [-5.0], ["XXX"]))  # no contract: not gated
    assert strata.Table(table).to_arrow().num_rows == 3


def test_sla(table):
    yaml = CONTRACT.format(on_fail="reject") + "sla: {completeness: 0.9}\n"
    quality.attach_contract(table, yaml)
    assert quality.check_sla(table)["success"]
    quality.detach_contract(table)
    strata.write_table(table, rows([3, 4], [None, None], ["EUR", "EUR"]))
    quality.attach_contract(table, yaml)
    r = quality.check_sla(table)
    assert not r["success"]
    failed = [x for x in r["results"] if not x["success"]]
    assert [x["column"] for x in failed] == ["amount"]


def test_cli_contract_and_validate(table, tmp_path):
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "strata", *args], capture_output=True, text=True, timeout=120)

    c = tmp_path / "payments.yaml"
    c.write_text(CONTRACT.format(on_fail="quarantine"))
    r = run("contract", "attach", table, str(c))
    assert r.returncode == 0, r.stderr
    assert "attached contract 'payments'" in r.stdout
    strata.write_table(table, rows([3, 4], [30.0, -4.0], ["EUR", "EUR"]))
    r = run("contract", "quarantine", table)
    assert r.returncode == 0 and "1 quarantined rows" in r.stdout and "between(amount)" in r.stdout, r.stdout
    r = run("contract", "show", table)
    assert "name: payments" in r.stdout
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: s\nexpectations:\n  - {type: between, column: amount, min: 0}\n")
    r = run("validate", str(suite), table)
    assert r.returncode == 0, r.stdout + r.stderr
    suite.write_text("name: s\nexpectations:\n  - {type: between, column: amount, min: 15}\n")
    r = run("validate", str(suite), table, "--format", "json")
    assert r.returncode == 1, r.stdout + r.stderr
    assert '"success": false' in r.stdout.replace('"success":false', '"success": false')
    r = run("contract", "detach", table)
    assert r.returncode == 0 and quality.get_contract(table) is None
