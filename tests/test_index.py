"""`index_frame` end to end against a real `jobkit serve` on 127.0.0.1, faults included."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import RunningServer, start_server

import jobkit
from jobkit._index import RESULTS_POLARS_SCHEMA

N_GOOD = 2_000
FAULTS = "error_rate=0.1,lost_response_rate=0.05,throttle_rate=0.05"
# Small waits, as parameters: the retry logic is the same, the suite stays fast.
FAST = {"backoff_initial": 0.005, "backoff_max": 0.05, "retry_after_max": 0.02, "max_retries": 12}


def jobs_frame(n: int = N_GOOD) -> pl.DataFrame:
    """`n` valid jobs with mixed trait values, then bad rows and duplicates mixed in."""
    good = pl.DataFrame(
        {
            "reference": [f"ref-{i:05d}" for i in range(n)],
            "name": [f"Data Engineer {i}" for i in range(n)],
            "location.text": ["Paris"] * n,
            "location.lat": [48.85] * n,
        }
    )
    bad = pl.DataFrame(
        {
            "reference": ["bad-name", "bad-lat", "ref-00003", f"ref-{n - 1:05d}"],
            "name": ["", "Analyst", "Duplicate of 3", "Duplicate of the last"],
            "location.text": ["Paris"] * 4,
            "location.lat": [48.85, 123.0, 48.85, 48.85],
        }
    )
    # Spread the bad rows through the frame (row 10, 700, 1500, and at the very end).
    return pl.concat(
        [good[:10], bad[0], good[10:700], bad[1], good[700:1500], bad[2], good[1500:], bad[3]]
    )


def prefixed(df: pl.DataFrame, prefix: str) -> pl.DataFrame:
    """`df` with references of its own on the shared board."""
    return df.with_columns(pl.format(prefix + "-{}", "reference").alias("reference"))


@pytest.fixture
def server(board_server: RunningServer) -> RunningServer:
    """The module's server (board `demo`): each test uses references of its own."""
    return board_server


def client_for(server: RunningServer) -> jobkit.Client:
    return jobkit.connect(api_key=server.api_key, user_email=server.user_email, base_url=server.url)


def check_statuses(df: pl.DataFrame, res: pl.DataFrame, expected_ok: str) -> None:
    assert res.schema == RESULTS_POLARS_SCHEMA
    assert res["row"].to_list() == list(range(df.height))
    assert res["reference"].to_list() == df["reference"].to_list()
    by_ref = dict(zip(res["reference"], res["status"], strict=True))
    assert by_ref["bad-name"] == "invalid"
    assert by_ref["bad-lat"] == "invalid"
    errors = dict(zip(res["reference"], res["error"], strict=True))
    assert errors["bad-name"].startswith("name:")
    assert errors["bad-lat"].startswith("location.lat:")
    dups = res.filter(pl.col("status") == "duplicate")
    assert dups["reference"].to_list() == ["ref-00003", "ref-01999"]
    assert dups["key"].null_count() == 2
    sent = res.filter(
        pl.col("reference").str.starts_with("ref-") & (pl.col("status") != "duplicate")
    )
    assert sent.height == N_GOOD
    assert sent["status"].cast(pl.String).unique().to_list() == [expected_ok], (
        sent.filter(pl.col("status") != expected_ok).head(5).to_dicts()
    )
    assert sent["key"].null_count() == 0


# More seeds by hand: JOBKIT_FAULT_SEEDS=1,2,3,4,5 pytest tests/test_index.py -k faults
SEEDS = [int(s) for s in os.environ.get("JOBKIT_FAULT_SEEDS", "1").split(",")]


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_faults_end_with_exactly_one_job_per_reference_and_a_rerun_changes_nothing(
    tmp_path: Path, seed: int
) -> None:
    df = jobs_frame()
    with (
        start_server(tmp_path, faults=f"{FAULTS},seed={seed}") as server,
        client_for(server) as client,
    ):
        board = client.board("demo")
        # Chunks of 500: the duplicates of rows 3 and 1999 sit in later chunks.
        first = jobkit.index_frame(df, board, progress=False, seed=seed, chunk_size=500, **FAST)
        check_statuses(df, first, "created")
        assert first["attempts"].max() > 1  # the faults did happen

        stored = jobkit.read_board(board, include_archived=True)
        assert stored.height == N_GOOD  # exactly one job per reference
        assert stored["reference"].n_unique() == N_GOOD
        sent_keys = dict(
            first.filter(pl.col("status") == "created").select("reference", "key").iter_rows()
        )
        assert dict(stored.select("reference", "key").iter_rows()) == sent_keys

        # The API stamps jobs to the second, and that stamp is how a rerun tells a job it
        # finds after a lost answer from one its own POST wrote (see jobkit._engine): a rerun
        # within the same second as the first run's last write could call it `created`.
        time.sleep(1.01 - time.time() % 1)
        again = jobkit.index_frame(
            df, board, progress=False, seed=seed + 100, chunk_size=500, **FAST
        )
        check_statuses(df, again, "exists")
        assert again.select("reference", "key").equals(first.select("reference", "key"))
        assert jobkit.read_board(board, include_archived=True).height == N_GOOD


def test_update_replaces_and_fail_rejects_existing_references(server: RunningServer) -> None:
    df = pl.DataFrame({"reference": ["upd-a", "upd-b"], "name": ["Analyst", "Engineer"]})
    with client_for(server) as client:
        board = client.board("demo")
        first = jobkit.index_frame(df, board, progress=False)
        renamed = df.with_columns(pl.col("name") + " II")
        updated = jobkit.index_frame(renamed, board, on_conflict="update", progress=False)
        assert updated["status"].to_list() == ["updated", "updated"]
        assert updated["key"].to_list() == first["key"].to_list()
        assert board.get(reference="upd-a")["name"] == "Analyst II"
        failed = jobkit.index_frame(df, board, on_conflict="fail", progress=False)
        assert failed["status"].to_list() == ["rejected", "rejected"]
        assert failed["key"].to_list() == first["key"].to_list()
        assert "on_conflict='fail'" in failed["error"][0]
        assert board.get(reference="upd-a")["name"] == "Analyst II"  # untouched


def test_an_archived_reference_still_counts_as_existing(server: RunningServer) -> None:
    df = pl.DataFrame({"reference": ["archived-a"], "name": ["Analyst"]})
    with client_for(server) as client:
        board = client.board("demo")
        key = jobkit.index_frame(df, board, progress=False)["key"][0]
        board.archive(key)
        again = jobkit.index_frame(df, board, progress=False)
        assert again.select("status", "key").row(0) == ("exists", key)
        assert key not in jobkit.read_board(board)["key"].to_list()
        assert key in jobkit.read_board(board, include_archived=True)["key"].to_list()


def test_a_bad_key_stops_early_and_returns_every_row_not_sent(server: RunningServer) -> None:
    df = prefixed(jobs_frame(300), "badkey")
    with jobkit.connect(
        api_key="ask_" + "0" * 32, user_email=server.user_email, base_url=server.url
    ) as client:
        res = jobkit.index_frame(df, client.board("demo"), progress=False, chunk_size=100)
    assert res.height == df.height
    statuses = set(res["status"].cast(pl.String))
    assert statuses == {"not_sent", "invalid", "duplicate"}
    not_sent = res.filter(pl.col("status") == "not_sent")
    assert not_sent["attempts"].sum() <= 64  # only what was in flight when the 401 came
    assert "401" in not_sent["error"][0]
    assert "0" * 32 not in "".join(res["error"].drop_nulls())


def test_a_server_that_is_gone_stops_early(tmp_path: Path) -> None:
    with start_server(tmp_path) as server:
        url, key, email = server.url, server.api_key, server.user_email
    df = jobs_frame(500)
    with jobkit.connect(api_key=key, user_email=email, base_url=url) as client:
        res = jobkit.index_frame(df, client.board("demo"), progress=False, chunk_size=100, **FAST)
    assert res.height == df.height
    sent = res.filter(pl.col("status").is_in(["not_sent", "failed"]))
    assert sent["status"].cast(pl.String).unique().to_list() == ["not_sent"]  # nothing reached it
    assert res["attempts"].sum() < 200
    assert "cannot be reached" in sent["error"][-1]


def test_dry_run_validates_and_sends_nothing() -> None:
    df = jobs_frame(50)
    # Nothing listens on this port: a dry run must not even try.
    with jobkit.connect(api_key="ask_x", user_email="me", base_url="http://127.0.0.1:9/v1/") as c:
        res = jobkit.index_frame(df, c.board("demo"), dry_run=True, progress=False)
    counts = dict(res["status"].cast(pl.String).value_counts().iter_rows())
    assert counts == {"valid": 50, "invalid": 2, "duplicate": 2}
    assert res["attempts"].sum() == 0


@pytest.mark.parametrize("kind", ["pandas", "lazy", "parquet", "csv", "ndjson"])
def test_every_input_kind_indexes_alike(server: RunningServer, tmp_path: Path, kind: str) -> None:
    df = pl.DataFrame(
        {"reference": [f"{kind}-{i}" for i in range(5)], "name": [f"Job {i}" for i in range(5)]}
    )
    source: object
    if kind == "pandas":
        source = df.to_pandas()
    elif kind == "lazy":
        source = df.lazy()
    elif kind == "ndjson":
        source = tmp_path / "jobs.jsonl"
        df.write_ndjson(source)
    else:
        source = tmp_path / f"jobs.{kind}"
        getattr(df, f"write_{kind}")(source)
    with client_for(server) as client:
        res = jobkit.index_frame(source, client.board("demo"), progress=False, chunk_size=2)
    assert res["status"].to_list() == ["created"] * 5
    assert res["reference"].to_list() == df["reference"].to_list()


def test_works_inside_a_running_event_loop_and_async(server: RunningServer) -> None:
    df = pl.DataFrame({"reference": ["loop-x", "loop-y"], "name": ["A", "B"]})

    async def notebook_cell() -> tuple[pl.DataFrame, pl.DataFrame]:
        # A Jupyter cell runs inside an event loop: the blocking call must still work.
        with client_for(server) as client:
            board = client.board("demo")
            blocking = jobkit.index_frame(df, board, progress=False)
            awaited = await jobkit.aindex_frame(df, board, progress=False)
        return blocking, awaited

    blocking, awaited = asyncio.run(notebook_cell())
    assert blocking["status"].to_list() == ["created", "created"]
    assert awaited["status"].to_list() == ["exists", "exists"]
    assert awaited["key"].to_list() == blocking["key"].to_list()


def test_progress_shows_counts_and_never_the_secret(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    df = prefixed(jobs_frame(40), "progress")
    with client_for(server) as client:
        jobkit.index_frame(df, client.board("demo"), progress=True)
    err = capsys.readouterr().err
    assert "created=40" in err
    assert "invalid=2" in err
    assert server.api_key not in err


def test_progress_is_silent_when_stderr_is_not_a_tty(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with client_for(server) as client:
        jobkit.index_frame(prefixed(jobs_frame(5), "silent"), client.board("demo"))
    assert capsys.readouterr().err == ""


def test_a_board_key_string_uses_the_environments_credentials(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.export_credentials(monkeypatch)
    res = jobkit.index_frame(pl.DataFrame({"name": ["A"], "reference": ["env"]}), "demo")
    assert res["status"].to_list() == ["created"]
    with client_for(server) as client:
        assert client.board("demo").get(reference="env")["key"] == res["key"][0]


def test_index_batches_is_the_engine_neutral_core(server: RunningServer) -> None:
    import pyarrow as pa

    from jobkit._index import RESULTS_SCHEMA, IndexConfig, index_batches

    config = IndexConfig(server.url, server.api_key, server.user_email, "demo", concurrency=4)
    batches = [
        pa.RecordBatch.from_pydict(
            {"row": [100, 101], "name": ["Core A", ""], "reference": ["core-a", "core-b"]}
        ),
        pa.RecordBatch.from_pydict(
            {
                "row": [205, 206],
                "name": ["Core C", "Core A again"],
                "reference": ["core-c", "core-a"],
            }
        ),
    ]
    out = list(index_batches(batches, config))
    assert [b.schema for b in out] == [RESULTS_SCHEMA, RESULTS_SCHEMA]
    table = pa.Table.from_batches(out)
    assert table.column("row").to_pylist() == [100, 101, 205, 206]
    assert table.column("status").to_pylist() == ["created", "invalid", "created", "duplicate"]
    assert "row 100" in table.column("error").to_pylist()[3]
