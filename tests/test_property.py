"""Random write sequences against an in-memory model (one pyarrow table per version).

Operations: append (random rows, random nulls), overwrite, overwrite with replace_where (on a
partition value for partitioned tables, on an id range otherwise), append with schema_mode="merge"
adding a column, and checkpoints. After every step EVERY historical version is checked: strata's
rows == the model's rows, and delta-rs reads the same. Hypothesis drives the sequences
(derandomized, bounded examples) and shrinks a failure to a short sequence.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import tempfile

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import strata
from conftest import assert_same_rows, deltars_read

G_VALUES = [None, "a", "b b", "x/y", "%", "é", "="]
S_VALUES = [None, "", "hello", "ünï", "a,b", "'q'"]
X_VALUES = [None, 0.0, -1.5, 2.25, 1e300, -0.0]
NEW_COLUMN_TYPES = {
    "int32": pa.int32(),
    "string": pa.string(),
    "bool": pa.bool_(),
    "date": pa.date32(),
}


def _value(type_name: str, i: int):
    if i % 3 == 0:
        return None
    return {
        "int32": i * 7 - 20,
        "string": f"v{i}",
        "bool": i % 2 == 0,
        "date": dt.date(2024, 1, 1) + dt.timedelta(days=i),
    }[type_name]


# one row = (g index, x index, s index, seed for added columns)
row_st = st.tuples(
    st.integers(0, len(G_VALUES) - 1),
    st.integers(0, len(X_VALUES) - 1),
    st.integers(0, len(S_VALUES) - 1),
    st.integers(0, 50),
)
rows_st = st.lists(row_st, min_size=0, max_size=6)

op_st = st.one_of(
    st.tuples(st.just("append"), rows_st),
    st.tuples(st.just("overwrite"), rows_st),
    st.tuples(st.just("replace"), st.integers(0, len(G_VALUES) - 1), st.integers(0, 30), rows_st),
    st.tuples(st.just("merge"), st.sampled_from(sorted(NEW_COLUMN_TYPES)), rows_st),
    st.tuples(st.just("checkpoint")),
)


class Model:
    """The table's expected contents at each version."""

    def __init__(self):
        self.versions: list[pa.Table] = []
        self.schema = pa.schema([("id", pa.int64()), ("g", pa.string()), ("x", pa.float64()), ("s", pa.string())])
        self.added: list[tuple[str, str]] = []  # (column name, type name)
        self.next_id = itertools.count()

    def make(self, rows, *, g_override=None, ids=None) -> pa.Table:
        cols = {name: [] for name in self.schema.names}
        for k, (gi, xi, si, seed) in enumerate(rows):
            cols["id"].append(next(self.next_id) if ids is None else ids[k])
            cols["g"].append(G_VALUES[gi] if g_override is None else g_override[0])
            cols["x"].append(X_VALUES[xi])
            cols["s"].append(S_VALUES[si])
            for name, tname in self.added:
                cols[name].append(_value(tname, seed + k))
        return pa.table({n: pa.array(cols[n], self.schema.field(n).type) for n in self.schema.names})

    @property
    def current(self) -> pa.Table:
        return self.versions[-1] if self.versions else self.schema.empty_table()

    def commit(self, tbl: pa.Table) -> None:
        self.versions.append(tbl.cast(self.schema))


def _keep_not(tbl: pa.Table, mask_true: list[bool]) -> pa.Table:
    return tbl.filter(pa.array([not m for m in mask_true], pa.bool_()))


def _check_all_versions(path: str, model: Model, step: str) -> None:
    latest = strata.Table(path).version
    assert latest == len(model.versions) - 1, step
    for v, expected in enumerate(model.versions):
        got = strata.Table(path, version=v).to_arrow()
        assert_same_rows(got, expected, f"strata v{v} after {step}")
        assert_same_rows(deltars_read(path, v), expected, f"delta-rs v{v} after {step}")


def run_sequence(path: str, partitioned: bool, ops) -> Model:
    model = Model()
    first = model.make([(1, 1, 1, 0), (0, 0, 0, 1), (3, 2, 2, 2)])
    v = strata.write_table(path, first, partition_by=["g"] if partitioned else None)
    assert v == 0
    model.commit(first)
    _check_all_versions(path, model, "create")
    for step, op in enumerate(ops):
        kind = op[0]
        desc = f"step {step} {op!r}"
        if kind == "append":
            data = model.make(op[1])
            assert strata.write_table(path, data) == len(model.versions)
            model.commit(pa.concat_tables([model.current, data]))
        elif kind == "overwrite":
            data = model.make(op[1])
            assert strata.write_table(path, data, mode="overwrite") == len(model.versions)
            model.commit(data)
        elif kind == "replace":
            _, gi, lo, rows = op
            cur = model.current
            if partitioned:
                g = G_VALUES[gi]
                pred = "g is null" if g is None else "g = '" + g.replace("'", "''") + "'"
                data = model.make(rows, g_override=[g])
                hit = [val == g if g is not None else val is None for val in cur.column("g").to_pylist()]
            else:
                hi = lo + 5
                pred = f"id >= {lo} and id < {hi}"
                ids = [lo + (k % 5) for k in range(len(rows))]
                data = model.make(rows, ids=ids)
                hit = [val is not None and lo <= val < hi for val in cur.column("id").to_pylist()]
            assert strata.write_table(path, data, mode="overwrite", replace_where=pred) == len(model.versions)
            model.commit(pa.concat_tables([_keep_not(cur, hit), data]))
        elif kind == "merge":
            _, tname, rows = op
            name = f"c{len(model.added)}_{tname}"
            typ = NEW_COLUMN_TYPES[tname]
            old = model.current
            model.schema = model.schema.append(pa.field(name, typ))
            model.added.append((name, tname))
            data = model.make(rows)
            assert strata.write_table(path, data, schema_mode="merge") == len(model.versions)
            old = old.append_column(pa.field(name, typ), pa.nulls(old.num_rows, typ))
            model.commit(pa.concat_tables([old, data]))
            assert strata.Table(path).schema.names == model.schema.names
        elif kind == "checkpoint":
            strata.Table(path).checkpoint()
            n = len(model.versions) - 1
            assert os.path.exists(os.path.join(path, "_delta_log", f"{n:020d}.checkpoint.parquet")), desc
        _check_all_versions(path, model, desc)
    return model


@pytest.mark.parametrize("partitioned", [False, True], ids=["unpartitioned", "partitioned"])
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no slow 'explain' phase
)
@given(ops=st.lists(op_st, min_size=1, max_size=8))
def test_random_write_sequences_match_model(partitioned, ops):
    with tempfile.TemporaryDirectory() as d:
        model = run_sequence(d + "/t", partitioned, ops)
        # filters on the latest version agree with the model filtered in Python
        t = strata.Table(d + "/t")
        cur = model.current
        for pred, keep in [
            ("x > 0", lambda r: r["x"] is not None and r["x"] > 0),
            ("s is null or g = 'a'", lambda r: r["s"] is None or r["g"] == "a"),
            ("id >= 3", lambda r: r["id"] >= 3),
        ]:
            want = pa.Table.from_pylist([r for r in cur.to_pylist() if keep(r)], schema=cur.schema)
            assert_same_rows(t.to_arrow(filter=pred), want, f"filter {pred!r}")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fixed_long_sequence_with_checkpoints(tmp_table, seed):
    """A longer, fixed sequence (plain random, seeded) crossing several checkpoints."""
    rnd = random.Random(seed)
    ops = []
    for i in range(14):
        r = rnd.random()
        rows = [(rnd.randrange(len(G_VALUES)), rnd.randrange(len(X_VALUES)), rnd.randrange(len(S_VALUES)),
                 rnd.randrange(50)) for _ in range(rnd.randrange(0, 5))]
        if i in (4, 9):
            ops.append(("checkpoint",))
        elif r < 0.45:
            ops.append(("append", rows))
        elif r < 0.6:
            ops.append(("overwrite", rows))
        elif r < 0.85:
            ops.append(("replace", rnd.randrange(len(G_VALUES)), rnd.randrange(30), rows))
        else:
            ops.append(("merge", rnd.choice(sorted(NEW_COLUMN_TYPES)), rows))
    run_sequence(tmp_table, seed % 2 == 1, ops)
