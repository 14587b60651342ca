"""The per-run view: `wstape.load_runs` and `wstape export --runs` give one row per judged run,
typed, with the same verdicts and user's-view metrics as the JSON report."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from recordings import recorded

import wstape


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded(tmp_path_factory, "mixed")  # a real recording, passing and failing runs


def same(a: float | None, b: float) -> bool:
    return (a is None and math.isnan(b)) or (a is not None and abs(a - b) < 1e-6)


def test_load_runs_matches_the_json_report_run_for_run(mixed: Path) -> None:
    runs = wstape.load_runs(mixed)
    report = wstape.analyze(mixed).to_json()
    assert len(runs) == report["summary"]["runs"] > 0
    assert str(runs["status"].dtype) == "category" and str(runs["total_s"].dtype) == "float64"
    assert str(runs["run_id"].dtype) == "string" and str(runs["buffered"].dtype) == "boolean"
    for row, run in zip(runs.itertuples(index=False), report["runs"], strict=True):
        assert (row.run_id, row.user_id, row.status, row.outcome) == (
            run["run_id"], run["user_id"], run["status"], run["outcome"])  # fmt: skip
        codes = ",".join(f["code"] for f in run["failures"])
        assert (row.codes if isinstance(row.codes, str) else "") == codes
        for name in ("first_event_s", "total_s", "first_text_s", "longest_silence_s"):
            assert same(run[name], getattr(row, name)), name
    assert set(runs["status"]) == {"passed", "failed"}


def test_load_runs_takes_the_targets_analyze_takes(mixed: Path) -> None:
    strict = wstape.load_runs(mixed, max_total_s=0.001)
    assert strict["codes"].str.contains("slow_total").all()


def test_export_runs_writes_a_row_per_run(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "wstape", "export", str(mixed), "--runs", "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(wstape.load_runs(mixed))
    assert {"run_id", "status", "codes", "longest_silence_s", "first_text_s"} <= set(rows[0])
    assert f"{len(rows)} runs written" in result.stderr


def test_export_runs_and_events_together_is_a_usage_error(mixed: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wstape", "export", str(mixed), "--runs", "--events"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "--runs" in result.stderr
