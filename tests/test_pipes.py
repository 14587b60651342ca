"""`wstape analyze | head` and `wstape export | head` behave like cat and jq: when the reader of
stdout goes away the command ends quietly, with the verdict's exit code, and the files it was
asked to write are written in full."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from recordings import recorded


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded(tmp_path_factory, "mixed")  # a real recording with failing runs


def run_reader_gone(*args: str) -> subprocess.CompletedProcess:
    """Runs wstape with a stdout whose reader has already gone, as `| head -0` leaves it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "wstape", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    proc.stdout.close()
    _, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", stderr.decode())


def test_analyze_into_a_closed_pipe_keeps_its_verdict_and_writes_its_files(
    mixed: Path, tmp_path: Path
) -> None:
    whole = subprocess.run(
        [sys.executable, "-m", "wstape", "analyze", str(mixed), "--json", str(tmp_path / "a.json")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert whole.returncode == 1, whole.stderr  # the recording has failing runs
    outputs = {
        "--json": tmp_path / "b.json", "--junit": tmp_path / "b.xml", "--html": tmp_path / "b.html",
    }  # fmt: skip
    args = [item for option, path in outputs.items() for item in (option, str(path))]
    cut = run_reader_gone("analyze", str(mixed), *args)
    assert cut.returncode == 1
    assert cut.stderr == ""
    a, b = (json.loads((tmp_path / name).read_text()) for name in ("a.json", "b.json"))
    assert a == b
    junit = ElementTree.parse(tmp_path / "b.xml").getroot()
    assert len(junit.findall("testcase")) == a["summary"]["runs"]
    assert (tmp_path / "b.html").read_text().rstrip().endswith("</html>")


@pytest.mark.parametrize("extra", [(), ("--events",), ("--format", "csv")])
def test_export_into_a_closed_pipe_is_quiet(mixed: Path, extra: tuple[str, ...]) -> None:
    cut = run_reader_gone("export", str(mixed), *extra)
    assert (cut.returncode, cut.stderr) == (0, "")


def test_export_into_head_gives_the_first_line(mixed: Path) -> None:
    piped = subprocess.run(
        f"{sys.executable} -m wstape export {mixed} | head -1; exit ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == ""
    assert json.loads(piped.stdout)["connection"]
