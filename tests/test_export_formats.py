"""`wstape export` as JSON lines, CSV and Parquet, frames and events, run for real: what comes
back is what the capture holds, to the byte and to the last bit of every timestamp."""

from __future__ import annotations

import base64
import csv
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from test_runs_rules import GOOD, Chat

from wstape import load
from wstape.analyzer.cli.export import export
from wstape.analyzer.export import formats as export_module
from wstape.analyzer.sources.reading import read_messages

ROOT = Path(__file__).resolve().parent.parent
ODD = [b"", bytes(range(256)), "héllo ✓".encode(), b"\xff\xfe not utf-8", b"plain text"]


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """Runs, pings and every awkward payload: empty, binary, non-ASCII, invalid UTF-8."""
    chat = Chat().connect("c1", "alice").run("c1", "alice", "run-1", steps=GOOD)
    chat.connect("c2", "bob", 0.5).run("c2", "bob", "run-2", at=1.3, steps=GOOD[:3])
    for n, payload in enumerate(ODD):
        chat.raw("c2", 2.0 + n / 7, payload, from_client=bool(n % 2), is_text=n != 1)
    chat.records.sort(key=lambda record: record.ts)
    return chat.close("c1", 5).close("c2", 5).write(tmp_path / "capture")


def run_export(*args: str | Path) -> str:
    result = CliRunner().invoke(export, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def payload_of(text, data) -> bytes:
    """The payload from a row's text and data, however the format spells "missing"."""
    if isinstance(text, str) and text:
        return text.encode()
    if isinstance(data, bytes):
        return data
    return base64.b64decode(data) if isinstance(data, str) and data else b""


def test_events_parquet_reads_back_with_pandas_equal_to_analyzer_load(tmp_path, capture):
    out = tmp_path / "events.parquet"
    run_export(capture, "--events", "--format", "parquet", "-o", out)
    back = pd.read_parquet(out)
    expected = load(capture)
    pd.testing.assert_frame_equal(back, expected, check_exact=True)
    assert back["canonical"].dtype == "category" and back["size"].dtype == "Int64"


def test_frames_are_the_same_in_all_three_formats(tmp_path: Path, capture: Path) -> None:
    messages = list(read_messages(capture))
    expected = [(m.connection, m.ts, m.direction, m.kind, len(m.payload), m.payload)
                for m in messages]  # fmt: skip
    lines = [json.loads(line) for line in run_export(capture).splitlines()]
    from_json = [(f["connection"], f["ts"], f["direction"], f["kind"], f["size"],
                  payload_of(f["text"], f.get("data"))) for f in lines]  # fmt: skip
    run_export(capture, "--format", "csv", "-o", tmp_path / "frames.csv")
    with open(tmp_path / "frames.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    from_csv = [(r["connection"], float(r["ts"]), r["direction"], r["kind"], int(r["size"]),
                 payload_of(r["text"] if r["kind"] == "text" and not r["data"] else None,
                            r["data"])) for r in rows]  # fmt: skip
    run_export(capture, "--format", "parquet", "-o", tmp_path / "frames.parquet")
    table = pd.read_parquet(tmp_path / "frames.parquet")
    from_parquet = [(r.connection, r.ts, r.direction, r.kind, r.size, payload_of(r.text, r.data))
                    for r in table.itertuples()]  # fmt: skip
    assert from_json == from_csv == from_parquet == expected
    assert {m.payload for m in messages} >= set(ODD)


def test_parquet_frames_keep_binary_payloads_as_bytes(tmp_path: Path, capture: Path) -> None:
    run_export(capture, "--format", "parquet", "-o", tmp_path / "frames.parquet")
    table = pd.read_parquet(tmp_path / "frames.parquet")
    binary = table[table["kind"] == "binary"]
    assert list(binary["data"]) == [bytes(range(256))]
    invalid = table[table["data"].apply(lambda d: d == b"\xff\xfe not utf-8")]
    assert list(invalid["kind"]) == ["text"] and invalid["text"].isna().all()


def test_large_captures_are_written_in_row_groups(tmp_path, capture, monkeypatch) -> None:
    monkeypatch.setattr(export_module, "PARQUET_ROWS", 4)  # a row group every four frames
    run_export(capture, "--format", "parquet", "-o", tmp_path / "frames.parquet")
    assert pq.ParquetFile(tmp_path / "frames.parquet").num_row_groups > 3
    table = pd.read_parquet(tmp_path / "frames.parquet")
    assert list(table["direction"].cat.categories) == ["client", "server"]
    assert len(table) == len(list(read_messages(capture)))


def test_events_as_csv_and_json_lines_keep_every_value(tmp_path, capture) -> None:
    expected = load(capture)
    run_export(capture, "--events", "--format", "csv", "-o", tmp_path / "events.csv")
    from_csv = pd.read_csv(tmp_path / "events.csv", keep_default_na=False, na_values=[""])
    assert list(from_csv.columns) == list(expected.columns)
    assert from_csv["ts"].tolist() == expected["ts"].tolist()  # exact, through text
    rows = [json.loads(line) for line in run_export(capture, "--events").splitlines()]
    assert [row["ts"] for row in rows] == expected["ts"].tolist()
    assert [row["type"] for row in rows] == [None if pd.isna(t) else t for t in expected["type"]]
    assert rows[0].keys() == set(expected.columns)


def test_an_empty_capture_exports_an_empty_typed_table(tmp_path: Path) -> None:
    empty = Chat().write(tmp_path / "empty")
    run_export(empty, "--format", "parquet", "-o", tmp_path / "frames.parquet")
    assert len(pd.read_parquet(tmp_path / "frames.parquet")) == 0
    run_export(empty, "--events", "--format", "parquet", "-o", tmp_path / "events.parquet")
    back, expected = pd.read_parquet(tmp_path / "events.parquet"), load(empty)
    # Equal but for what pandas infers for categories it never saw: no values, no dtype.
    pd.testing.assert_frame_equal(back, expected, check_categorical=False)
    assert back.dtypes.astype(str).tolist() == expected.dtypes.astype(str).tolist()


def test_an_unreadable_capture_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.har"
    bad.write_text('{"log": {"entries": [{"_webSocketMessages": 7}]}}')
    for fmt in ("jsonl", "csv", "parquet"):
        result = CliRunner().invoke(export, [str(bad), "--format", fmt, "-o", str(tmp_path / "o")])
        assert result.exit_code == 2, result.output
        assert result.stderr.strip().splitlines() == [
            f"Error: {bad}: log.entries[0]._webSocketMessages is not a list"
        ]


def test_parquet_without_pyarrow_says_what_to_install(tmp_path: Path, capture: Path) -> None:
    script = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "from wstape.analyzer.cli.main import main\n"
        f"main([ 'export', {str(capture)!r}, '--format', 'parquet', '-o', "
        f"{str(tmp_path / 'x.parquet')!r}])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "Error: Parquet output needs pyarrow: pip install 'wstape[parquet]'"
    )
