"""`jobkit index` and `jobkit export`, in-process, on the embedded store (no configuration)."""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl
import pytest

from jobkit._cli import main


@pytest.fixture(autouse=True)
def fresh_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials anywhere: the CLI must use the embedded store in JOBKIT_HOME."""
    for name in ("JOBKIT_API_KEY", "HRFLOW_API_KEY", "JOBKIT_BASE_URL", "JOBKIT_USER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOBKIT_HOME", str(tmp_path / "home"))


def write_jobs(path: Path) -> Path:
    jobs = [
        {
            "name": "Data Engineer",
            "reference": "cli-1",
            "tags": [{"name": "remote", "value": True}],
        },
        {"name": "ML Engineer", "reference": "cli-2", "location": {"text": "Paris"}},
        {"name": "", "reference": "cli-3"},
        {"name": "Copy", "reference": "cli-1"},
    ]
    path.write_bytes(b"".join(orjson.dumps(job) + b"\n" for job in jobs))
    return path


def test_index_prints_a_summary_writes_results_and_a_rerun_converges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jobs(tmp_path / "jobs.jsonl")
    out = tmp_path / "results.parquet"
    code = main(["index", str(source), "--board", "demo", "--output", str(out)])
    printed = capsys.readouterr().out
    assert code == 1  # one invalid row, one duplicate
    assert "into board 'demo' at the embedded local store" in printed
    assert "created" in printed
    assert "row 2 (invalid): name:" in printed
    assert "row 3 (duplicate)" in printed
    results = pl.read_parquet(out)
    assert results["status"].cast(pl.String).to_list() == [
        "created",
        "created",
        "invalid",
        "duplicate",
    ]
    assert main(["index", str(source), "--board", "demo"]) == 1
    assert "exists" in capsys.readouterr().out


def test_index_dry_run_sends_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_jobs(tmp_path / "jobs.jsonl")
    assert main(["index", str(source), "--board", "demo", "--dry-run"]) == 1
    assert "valid" in capsys.readouterr().out
    assert main(["export", "--board", "demo", "--output", str(tmp_path / "out.jsonl")]) == 0
    assert (tmp_path / "out.jsonl").read_bytes() == b""


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_export_writes_the_board(tmp_path: Path, suffix: str) -> None:
    source = write_jobs(tmp_path / "jobs.jsonl")
    main(["index", str(source), "--board", "demo"])
    out = tmp_path / f"board{suffix}"
    assert main(["export", "--board", "demo", "--output", str(out)]) == 0
    # The rows were sent concurrently, so the board holds them in no particular order.
    if suffix == ".jsonl":
        lines = out.read_bytes().splitlines()
        jobs = {job["reference"]: job for job in map(orjson.loads, lines)}
        assert sorted(jobs) == ["cli-1", "cli-2"]
        assert len(lines) == 2
        assert jobs["cli-1"]["tags"] == [{"name": "remote", "value": True}]
    else:
        assert sorted(pl.read_parquet(out)["reference"].to_list()) == ["cli-1", "cli-2"]


def test_index_of_a_missing_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", str(tmp_path / "nope.csv"), "--board", "demo"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_index_exits_2_when_rows_could_not_be_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JOBKIT_API_KEY", "ask_" + "1" * 32)
    monkeypatch.setenv("JOBKIT_BASE_URL", "http://127.0.0.1:9/v1/")  # nothing listens there
    source = write_jobs(tmp_path / "jobs.jsonl")
    assert main(["index", str(source), "--board", "demo", "--concurrency", "2"]) == 2
    captured = capsys.readouterr()
    assert "not_sent" in captured.out
    assert "rerun" in captured.err
    assert "1" * 32 not in captured.out + captured.err
