"""strata on S3, end to end, against a real S3-compatible server (moto) on 127.0.0.1.

The server is the one scripts/run-tests started (STRATA_S3_ENDPOINT), or one this module starts
once per session through scripts/s3-server and stops at the end. Tests set the standard AWS_*
variables for this process (strata reads them) and pass the same settings to delta-rs.

What is checked: write/read round trips through the Python API, delta-rs reading strata's tables
and strata reading delta-rs's, appends from four processes committing with the conditional PUT,
clear errors, and every request signed correctly according to a server that checks SigV4.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE.parent / "python"))
sys.path.insert(0, str(_HERE))

import strata  # noqa: E402
import writer_proc as wp  # noqa: E402
from conftest import assert_same_rows  # noqa: E402

S3_SERVER = str(_HERE.parent / "scripts" / "s3-server")
BUCKET = "strata-pytest"
KEY, SECRET, REGION = "testing", "testing", "us-east-1"
_AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
             "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_EC2_METADATA_DISABLED", "AWS_PROFILE")


def _start_server(state_dir: str, extra_env: dict | None = None) -> str:
    env = dict(os.environ, STRATA_S3_STATE_DIR=state_dir, **(extra_env or {}))
    out = subprocess.run([S3_SERVER, "start"], env=env, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        pytest.fail(f"scripts/s3-server start failed ({out.returncode}): {out.stderr}")
    return out.stdout.strip().splitlines()[-1]


def _stop_server(state_dir: str) -> None:
    subprocess.run([S3_SERVER, "stop"], env=dict(os.environ, STRATA_S3_STATE_DIR=state_dir), timeout=60)


def _boto3(endpoint: str, key: str = KEY, secret: str = SECRET, service: str = "s3"):
    import boto3  # noqa: PLC0415

    return boto3.client(service, endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                        region_name=REGION)


@pytest.fixture(scope="session")
def s3_endpoint():
    """The endpoint of the test server, with AWS_* set for this process and the bucket created."""
    endpoint = os.environ.get("STRATA_S3_ENDPOINT")
    state = None
    if not endpoint:
        state = tempfile.mkdtemp(prefix="strata-s3-pytest-")
        endpoint = _start_server(state)
    saved = {k: os.environ.get(k) for k in _AWS_VARS}
    for k in _AWS_VARS:
        os.environ.pop(k, None)
    os.environ.update({"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": REGION,
                       "AWS_ENDPOINT_URL_S3": endpoint, "AWS_EC2_METADATA_DISABLED": "true"})
    try:
        s3 = _boto3(endpoint)
        try:
            s3.create_bucket(Bucket=BUCKET)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        yield endpoint
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if state:
            _stop_server(state)
            shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def s3_table(s3_endpoint) -> str:
    """A fresh table URI in the test bucket."""
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}/table"


def _deltars_options(endpoint: str, key: str = KEY, secret: str = SECRET) -> dict:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_REGION": REGION, "AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}


def _sample(start: int, n: int) -> pa.Table:
    return pa.table({
        "id": pa.array(range(start, start + n), pa.int64()),
        "country": pa.array([["FR", "DE", "US west", "a=b%c/ü"][i % 4] for i in range(start, start + n)]),
        "amount": pa.array([None if i % 7 == 0 else i * 0.5 for i in range(start, start + n)], pa.float64()),
    })


def test_write_then_read_round_trip(s3_table):
    first, second = _sample(0, 50), _sample(50, 30)
    assert strata.write_table(s3_table, first, partition_by="country") == 0
    assert strata.write_table(s3_table, second) == 1
    t = strata.Table(s3_table)
    assert t.version == 1
    assert_same_rows(t.to_arrow(), pa.concat_tables([first, second]), "strata read after two writes")
    assert_same_rows(strata.Table(s3_table, version=0).to_arrow(), first, "time travel to version 0")
    assert len(t.history()) == 2
    assert strata.write_table(s3_table, _sample(0, 5), mode="overwrite") == 2
    assert_same_rows(strata.Table(s3_table).to_arrow(), _sample(0, 5), "after overwrite")
    # Partition directories with escaped characters exist as objects below the table.
    s3 = _boto3(os.environ["AWS_ENDPOINT_URL_S3"])
    prefix = s3_table[len(f"s3://{BUCKET}/"):] + "/"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]]
    assert any(k.endswith("_delta_log/00000000000000000002.json") for k in keys), keys
    assert any("country=US west/" in k for k in keys), keys


def test_delta_rs_reads_strata_table_and_strata_reads_delta_rs_table(s3_table, s3_endpoint):
    import deltalake  # noqa: PLC0415

    data = pa.concat_tables([_sample(0, 40), _sample(40, 40)])
    strata.write_table(s3_table, _sample(0, 40), partition_by="country")
    strata.write_table(s3_table, _sample(40, 40))
    dt = deltalake.DeltaTable(s3_table, storage_options=_deltars_options(s3_endpoint))
    assert dt.version() == 1
    assert_same_rows(dt.to_pyarrow_table(), data, "delta-rs reading strata's table on S3")

    theirs = s3_table + "-deltars"
    deltalake.write_deltalake(theirs, _sample(0, 40), partition_by=["country"],
                              storage_options=_deltars_options(s3_endpoint))
    deltalake.write_deltalake(theirs, _sample(40, 40), mode="append", storage_options=_deltars_options(s3_endpoint))
    t = strata.Table(theirs)
    assert t.version == 1
    assert_same_rows(t.to_arrow(), data, "strata reading delta-rs's table on S3")
    # And delta-rs sees our append to its table.
    strata.write_table(theirs, _sample(80, 3))
    dt = deltalake.DeltaTable(theirs, storage_options=_deltars_options(s3_endpoint))
    assert_same_rows(dt.to_pyarrow_table(), pa.concat_tables([data, _sample(80, 3)]), "delta-rs after our append")


def test_concurrent_appends_from_four_processes(s3_table, tmp_path, s3_endpoint):
    """Four writer processes append 5 times each to one table: every write commits exactly once,
    versions are contiguous, no row is lost. Relies on the server's conditional PUT being atomic:
    see S3Server.ServerConditionalPutIsAtomicUnderContention in s3_store_test.cc (moto's is not
    atomic by construction, only in practice)."""
    writers, count, rows = 4, 5, 6
    strata.write_table(s3_table, wp.batch("init", 0, rows, ["a", "b", "c"]), partition_by="part")
    go = str(tmp_path / "go")
    procs, reports = [], []
    try:
        for w in range(writers):
            reports.append(str(tmp_path / f"report-{w}.jsonl"))
            procs.append(wp.spawn(s3_table, f"w{w}", report=reports[-1], count=count, rows=rows, go_file=go))
        wp.wait_ready(procs, timeout=60)
        Path(go).touch()
        for p in procs:
            p.wait(timeout=180)
            assert p.returncode == 0, f"writer exited {p.returncode}: {p.stderr.read().decode()}"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    events = [e for r in reports for e in wp.read_events(r)]
    ok = [e for e in events if e["ev"] == "ok"]
    assert not [e for e in events if e["ev"] in ("conflict", "error")], events
    assert len(ok) == writers * count
    versions = sorted(e["version"] for e in ok)
    assert versions == list(range(1, writers * count + 1)), "versions must be unique and contiguous"

    expected = wp.expected_rows("init", 0, "append", None, rows, ["a", "b", "c"])
    for e in ok:
        expected += wp.event_rows(e)
    t = strata.Table(s3_table)
    assert t.version == writers * count
    assert wp.rows_of(t.to_arrow()) == expected
    import deltalake  # noqa: PLC0415

    dt = deltalake.DeltaTable(s3_table, storage_options=_deltars_options(s3_endpoint))
    assert dt.version() == writers * count
    assert wp.rows_of(dt.to_pyarrow_table()) == expected


def test_errors_name_the_bucket_and_the_problem(s3_table):
    with pytest.raises(strata.errors.NotATableError):
        strata.Table(s3_table)  # an empty prefix is no table
    with pytest.raises(Exception) as e:
        strata.Table("s3://strata-no-such-bucket/t")
    assert "strata-no-such-bucket" in str(e.value) and "404" in str(e.value), str(e.value)
    with pytest.raises(Exception) as e:
        strata.write_table("s3://strata-no-such-bucket/t", _sample(0, 3))
    assert "strata-no-such-bucket" in str(e.value), str(e.value)


@pytest.fixture(scope="module")
def auth_server(s3_endpoint):
    """A second moto that verifies every request's SigV4 signature and IAM permissions, with one
    IAM user allowed everything on S3. Yields (endpoint, access key, secret key)."""
    state = tempfile.mkdtemp(prefix="strata-s3-auth-")
    endpoint = _start_server(state)
    try:
        iam = _boto3(endpoint, service="iam")
        iam.create_user(UserName="strata")
        key = iam.create_access_key(UserName="strata")["AccessKey"]
        iam.put_user_policy(UserName="strata", PolicyName="s3", PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'))
        _boto3(endpoint, key["AccessKeyId"], key["SecretAccessKey"]).create_bucket(Bucket=BUCKET)
        import urllib.request  # noqa: PLC0415

        # From now on the server authenticates every request (moto's test API).
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                                      headers={"Content-Type": "text/plain"}))
        yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        _stop_server(state)
        shutil.rmtree(state, ignore_errors=True)


def test_requests_are_signed_as_aws_requires(auth_server, monkeypatch):
    endpoint, key, secret = auth_server
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    # A table root and partition values with spaces, '=', '+', '%' and non-ASCII put the URL-encoding
    # rules of both signers in play (ours for the log, the AWS SDK's in Arrow for data files).
    table = f"s3://{BUCKET}/signed dir/t=1+ü"
    assert strata.write_table(table, _sample(0, 20), partition_by="country") == 0
    assert strata.write_table(table, _sample(20, 20)) == 1
    assert_same_rows(strata.Table(table).to_arrow(), pa.concat_tables([_sample(0, 20), _sample(20, 20)]),
                     "round trip on a server that checks signatures")
    # The server does check: a wrong secret is refused, and the error says why.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret + "x")
    with pytest.raises(Exception) as e:
        strata.Table(table)
    msg = str(e.value)
    assert "403" in msg and BUCKET in msg and "AWS_SECRET_ACCESS_KEY" in msg, msg



def test_table_operations_on_s3(s3_table, s3_endpoint):
    """MERGE, DELETE with deletion vectors, UPDATE, the change feed, OPTIMIZE, RESTORE and VACUUM
    on S3, with delta-rs reading every version."""
    import deltalake  # noqa: PLC0415

    conf = {"delta.enableDeletionVectors": "true", "delta.enableChangeDataFeed": "true"}
    strata.write_table(s3_table, _sample(0, 40), partition_by="country", configuration=conf)
    strata.write_table(s3_table, _sample(40, 40))
    model = {r["id"]: r for r in pa.concat_tables([_sample(0, 40), _sample(40, 40)]).to_pylist()}
    t = strata.Table(s3_table)
    src = _sample(70, 20).set_column(2, "amount", pa.array([1.0] * 20))
    m = (t.merge(src, on="t.id = s.id", source_alias="s", target_alias="t")
         .when_matched_update_all().when_not_matched_insert_all().execute())
    assert (m["num_target_rows_updated"], m["num_target_rows_inserted"]) == (10, 10)
    for r in src.to_pylist():
        model[r["id"]] = r
    d = strata.Table(s3_table).delete("id % 5 = 0")
    assert d["deletion_vectors_added"] > 0
    model = {k: r for k, r in model.items() if k % 5}
    strata.Table(s3_table).update("id = 1", set={"amount": "99"})
    model[1] = {**model[1], "amount": 99.0}
    expected = pa.Table.from_pylist(list(model.values()), schema=_sample(0, 1).schema)
    assert_same_rows(strata.Table(s3_table).to_arrow(), expected, "after MERGE/DELETE/UPDATE on S3")
    changes = strata.Table(s3_table).changes(2)
    kinds = changes.column("_change_type").to_pylist()
    assert kinds.count("insert") == 10 and kinds.count("update_postimage") == 11
    assert kinds.count("delete") == len([k for k in range(90) if k % 5 == 0])
    o = strata.Table(s3_table).optimize()
    assert o["num_files_removed"] > o["num_files_added"] > 0
    assert_same_rows(strata.Table(s3_table).to_arrow(), expected, "after OPTIMIZE on S3")
    opts = _deltars_options(s3_endpoint)
    from deltalake import QueryBuilder  # noqa: PLC0415

    for v in range(strata.Table(s3_table).version + 1):  # delta-rs's DataFusion reader applies DVs
        dt = deltalake.DeltaTable(s3_table, version=v, storage_options=opts)
        theirs = pa.table(QueryBuilder().register("t", dt).execute("select * from t"))
        assert_same_rows(theirs, strata.Table(s3_table, version=v).to_arrow(), f"delta-rs at version {v}")
    r = strata.Table(s3_table).restore(version=1)
    assert_same_rows(strata.Table(s3_table).to_arrow(), pa.concat_tables([_sample(0, 40), _sample(40, 40)]),
                     "after RESTORE on S3")
    assert r["version"] == strata.Table(s3_table).version
    assert strata.Table(s3_table).vacuum(retention_hours=168) == []  # everything is young
