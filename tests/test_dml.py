"""DELETE and UPDATE against two oracles: a brute-force model evaluated by DuckDB (an independent
SQL engine) and delta-rs applying the same operation to an identical table. Copy-on-write and
deletion vectors, partitioned and not; every version after every operation is compared."""

from __future__ import annotations

import random
import shutil

import duckdb
import pyarrow as pa
import pytest
from conftest import assert_same_rows, deltars_read

import strata

PREDICATES = [
    "id < 30",
    "id % 7 = 3",
    "part = 'b'",
    "v IS NULL",
    "id BETWEEN 10 AND 20 AND part <> 'a'",
    "v > 50.5 OR id = 3",
    "s LIKE 'x1%'",
    "NOT (id > 5)",
]
UPDATES = [
    {"v": "v * 2"},
    {"v": "id + 0.5", "s": "'updated'"},
    {"s": "NULL"},
]


def rows(rng: random.Random, start: int, n: int) -> pa.Table:
    ids = list(range(start, start + n))
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "part": pa.array([rng.choice("abc") for _ in ids]),
        "v": pa.array([None if rng.random() < 0.15 else round(rng.uniform(0, 100), 2) for _ in ids]),
        "s": pa.array([f"x{rng.randint(0, 30)}" for _ in ids]),
    })


def model_delete(model: pa.Table, pred: str) -> pa.Table:
    con = duckdb.connect()
    con.register("m", model)
    return con.sql(f"SELECT * FROM m WHERE NOT coalesce(({pred}), false)").to_arrow_table()


def model_update(model: pa.Table, pred: str, sets: dict[str, str]) -> pa.Table:
    con = duckdb.connect()
    con.register("m", model)
    cols = []
    for f in model.schema:
        if f.name in sets:
            cols.append(f"CAST(CASE WHEN coalesce(({pred}), false) THEN {sets[f.name]} ELSE {f.name} END AS "
                        f"{'DOUBLE' if f.name == 'v' else 'VARCHAR' if f.name in ('s', 'part') else 'BIGINT'}) AS {f.name}")
        else:
            cols.append(f.name)
    return con.sql(f"SELECT {', '.join(cols)} FROM m").to_arrow_table()


@pytest.mark.parametrize("dv", [False, True], ids=["copy-on-write", "deletion-vectors"])
@pytest.mark.parametrize("partitioned", [False, True], ids=["flat", "partitioned"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_operations_match_the_model(tmp_path, dv, partitioned, seed):
    rng = random.Random(seed * 100 + dv * 10 + partitioned)
    path = str(tmp_path / "t")
    conf = {"delta.enableDeletionVectors": "true"} if dv else None
    first = rows(rng, 0, 120)
    strata.write_table(path, first, partition_by=["part"] if partitioned else None, configuration=conf)
    model = first
    versions = {0: model}
    for step in range(6):
        if step % 3 == 2:
            batch = rows(rng, 1000 * (step + 1), 40)
            strata.write_table(path, batch)
            model = pa.concat_tables([model, batch])
        elif rng.random() < 0.5:
            pred = rng.choice(PREDICATES)
            strata.Table(path).delete(pred)
            model = model_delete(model, pred)
        else:
            pred, sets = rng.choice(PREDICATES), rng.choice(UPDATES)
            strata.Table(path).update(pred, set=sets)
            model = model_update(model, pred, sets)
        t = strata.Table(path)
        versions[t.version] = model
        # Every version so far still reads as it was (time travel), with strata and delta-rs.
        for v, expected in versions.items():
            assert_same_rows(strata.Table(path, version=v).to_arrow(), expected, f"strata v{v} after step {step}")
            assert_same_rows(deltars_read(path, v), expected, f"delta-rs v{v} after step {step}")


@pytest.mark.parametrize("pred", PREDICATES)
def test_delete_matches_deltars(tmp_path, pred):
    rng = random.Random(7)
    data = rows(rng, 0, 200)
    ours, theirs = str(tmp_path / "ours"), str(tmp_path / "theirs")
    strata.write_table(ours, data, partition_by=["part"])
    shutil.copytree(ours, theirs)
    import deltalake

    strata.Table(ours).delete(pred)
    deltalake.DeltaTable(theirs).delete(pred)
    assert_same_rows(strata.Table(ours).to_arrow(), deltars_read(theirs), pred)


@pytest.mark.parametrize("pred", PREDICATES[:4])
def test_update_matches_deltars(tmp_path, pred):
    rng = random.Random(8)
    data = rows(rng, 0, 200)
    ours, theirs = str(tmp_path / "ours"), str(tmp_path / "theirs")
    strata.write_table(ours, data)
    shutil.copytree(ours, theirs)
    import deltalake

    strata.Table(ours).update(pred, set={"v": "v * 2", "s": "'u'"})
    deltalake.DeltaTable(theirs).update(updates={"v": "v * 2", "s": "'u'"}, predicate=pred)
    assert_same_rows(strata.Table(ours).to_arrow(), deltars_read(theirs), pred)


def test_deletion_vectors_are_written_and_read_by_deltars(tmp_path):
    path = str(tmp_path / "t")
    data = rows(random.Random(3), 0, 500)
    strata.write_table(path, data, configuration={"delta.enableDeletionVectors": "true"})
    m = strata.Table(path).delete("id % 5 = 0")
    assert m["deletion_vectors_added"] == 1 and m["files_added"] == 0 and m["rows_deleted"] == 100
    files = strata.Table(path).files()
    assert [f["deletion_vector_cardinality"] for f in files] == [100]
    assert_same_rows(deltars_read(path), model_delete(data, "id % 5 = 0"))


def test_delete_whole_partition_reads_no_data(tmp_path):
    path = str(tmp_path / "t")
    strata.write_table(path, rows(random.Random(4), 0, 300), partition_by=["part"])
    m = strata.Table(path).delete("part = 'a'")
    assert m["files_added"] == 0 and m["files_skipped"] == 2
    assert strata.Table(path).to_arrow(filter="part = 'a'").num_rows == 0


def test_bad_dml_input(tmp_path):
    path = str(tmp_path / "t")
    strata.write_table(path, rows(random.Random(5), 0, 10))
    t = strata.Table(path)
    with pytest.raises(strata.InvalidArgumentError):
        t.delete("nope > 1")
    with pytest.raises(strata.InvalidArgumentError):
        t.update("id = 1", set={"nope": "1"})
    with pytest.raises(strata.InvalidArgumentError):
        t.update("id = 1", set={})
    with pytest.raises(strata.InvalidArgumentError):
        t.delete("id >")
    assert strata.Table(path).version == 0
