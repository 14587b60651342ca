"""`wstape compare` on real recordings of the demo backend: a slower build and one that drops an
event regress (exit 1, naming the metric), the same build recorded twice does not (exit 0); the
statistical rule on small samples; JSON, plots, progress and one-line errors."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from recordings import recorded

from wstape.analyzer.cli.compare import compare_command
from wstape.analyzer.compare.comparison import judge_metric
from wstape.analyzer.compare.model import Change, Metric, Thresholds, Unit

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args: str | os.PathLike):
    return CliRunner().invoke(compare_command, [str(a) for a in args])


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory):
    return lambda name: recorded(tmp_path_factory, name)


def test_slower_tools_regress_and_exit_1_naming_the_metric(release) -> None:
    result = invoke(release("base"), release("slow-tools"))
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("❌ tool search (s)") and "regressed" in line for line in lines)
    assert "❌ 2 metrics regressed: tool_s:search, total_s" in result.stdout
    assert "regressed: tool search (s): p50 0.05" in result.stdout
    # what did not change is not blamed
    assert any(line.startswith("   pass rate") and "unchanged" in line for line in lines)


def test_the_same_build_recorded_twice_exits_0(release) -> None:
    result = invoke(release("base"), release("base-again"))
    assert result.exit_code == 0, result.output
    assert "✅ no regression" in result.stdout
    assert "regressed" not in result.stdout.split("rule:")[0]


def test_a_release_against_itself_is_unchanged_everywhere(release, tmp_path: Path) -> None:
    out = tmp_path / "same.json"
    result = invoke(release("base"), release("base"), "--json", out)
    assert result.exit_code == 0, result.output
    verdicts = {m["metric"]: m["verdict"] for m in json.loads(out.read_text())["metrics"]}
    assert set(verdicts.values()) == {"unchanged"}


def test_a_dropped_event_regresses_events_per_run_and_the_rates(release) -> None:
    result = invoke(release("base"), release("dropped-thinking"), "--json", "-")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "regressed"
    assert data["regressed"] == ["events_per_run", "pass_rate", "failure_rate:missing_events"]
    events = next(m for m in data["metrics"] if m["metric"] == "events_per_run")
    assert (events["baseline"]["p50"], events["candidate"]["p50"]) == (7, 5)
    assert events["better"] == "higher" and events["test"] == "mann-whitney-u"


def test_json_report_has_the_documented_shape(release) -> None:
    result = invoke(release("base"), release("slow-tools"), "--json", "-")
    data = json.loads(result.stdout)
    assert data["version"] == 1
    assert set(data) == {"version", "status", "baseline", "candidate", "thresholds",
                         "regressed", "improved", "metrics"}  # fmt: skip
    assert data["baseline"]["runs"] == data["candidate"]["runs"] == 12
    assert data["thresholds"]["min_change_s"] == 0.05
    names = [m["metric"] for m in data["metrics"]]
    assert names[:4] == ["first_event_s", "tool_s:search", "total_s", "events_per_run"]
    assert "pass_rate" in names and "failure_rate:isolation" in names
    tool = data["metrics"][1]
    assert set(tool) == {"metric", "label", "unit", "better", "baseline", "candidate", "change",
                         "test", "p_value", "verdict", "reason"}  # fmt: skip
    assert set(tool["baseline"]) == {"n", "p50", "p95", "max", "mean"}
    assert tool["change"]["p50"] > 0.5 and tool["change"]["p50_relative"] > 5
    assert tool["p_value"] < 0.001 and tool["verdict"] == "regressed"
    rate = next(m for m in data["metrics"] if m["metric"] == "pass_rate")
    assert rate["baseline"] == {"n": 12, "count": 12, "rate": 1.0}
    assert rate["test"] == "fisher-exact"


def test_thresholds_are_options(release) -> None:
    # The tools got 0.55 s slower: past a 0.05 s floor, within a 1 s one.
    result = invoke(release("base"), release("slow-tools"), "--min-change-s", "1", "--json", "-")
    assert result.exit_code == 0, result.output
    tool = json.loads(result.stdout)["metrics"][1]
    assert tool["verdict"] == "unchanged"
    assert tool["reason"].startswith("significant (p = ")
    strict = invoke(release("base"), release("slow-tools"), "--max-p95-increase", "2000%")
    assert strict.exit_code == 1  # the p50 alone is past its 10%


def test_a_release_folder_of_captures_is_one_release(release, tmp_path: Path) -> None:
    folder = tmp_path / "release-41"
    for name in ("base", "base-again"):
        shutil.copytree(release(name), folder / name)
    result = invoke(folder, release("slow-tools"), "--json", "-")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert len(data["baseline"]["captures"]) == 2 and data["baseline"]["runs"] == 24
    globbed = invoke(str(folder / "base*"), release("base"))
    assert globbed.exit_code == 0, globbed.output
    assert "baseline: 24 runs, 24 passed, in 2 captures" in globbed.stdout


def metric(base: tuple[float, ...], cand: tuple[float, ...]) -> Metric:
    return Metric("total_s", "total (s)", Unit.SECONDS, True, base, cand)


def test_two_runs_against_two_are_never_significant() -> None:
    change = judge_metric(metric((0.1, 0.11), (5.0, 6.0)), Thresholds())
    assert change.verdict is Change.UNCHANGED
    assert change.reason.startswith("not significant")


def test_five_runs_against_five_regress_when_clearly_slower() -> None:
    base = (0.10, 0.11, 0.12, 0.10, 0.11)
    change = judge_metric(metric(base, tuple(v + 0.5 for v in base)), Thresholds())
    assert change.verdict is Change.REGRESSED
    assert change.p_value < 0.01


def test_a_significant_change_below_the_floor_is_unchanged() -> None:
    base = tuple(0.100 + i / 1000 for i in range(10))
    change = judge_metric(metric(base, tuple(v + 0.02 for v in base)), Thresholds())
    assert change.verdict is Change.UNCHANGED
    assert "significant (p = " in change.reason and "within thresholds" in change.reason


def test_faster_is_improved() -> None:
    base = (0.60, 0.61, 0.62, 0.60, 0.61)
    change = judge_metric(metric(base, tuple(v - 0.5 for v in base)), Thresholds())
    assert change.verdict is Change.IMPROVED


def test_one_failure_in_five_runs_is_not_a_regression_but_five_are() -> None:
    def rate(base_hits: int, cand_hits: int) -> Change:
        m = Metric(
            "failure_rate:order",
            "order rate",
            Unit.RATE,
            True,
            hits=(base_hits, cand_hits),
            runs=(5, 5),
        )
        return judge_metric(m, Thresholds()).verdict

    assert rate(0, 1) is Change.UNCHANGED
    assert rate(0, 5) is Change.REGRESSED
    assert rate(5, 0) is Change.IMPROVED


def test_a_tool_only_one_release_ran_is_untested() -> None:
    change = judge_metric(metric((0.1, 0.2, 0.3), ()), Thresholds())
    assert change.verdict is Change.UNTESTED


def test_plot_overlays_both_releases(release, tmp_path: Path) -> None:
    out = tmp_path / "cdf.png"
    result = invoke(release("base"), release("slow-tools"), "--plot", out)
    assert result.exit_code == 1, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 40_000
    image = Image.open(out).convert("RGB")
    assert image.width > 1200 and image.height > 700
    colors = image.getcolors(maxcolors=1 << 20)
    count = {rgb: n for n, rgb in colors}
    # the baseline's grey line, the candidate's blue one, the red title of a regressed metric
    assert count.get((0x57, 0x60, 0x6A), 0) > 500
    assert count.get((0x09, 0x69, 0xDA), 0) > 500
    assert count.get((0xCF, 0x22, 0x2E), 0) > 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("{base}", "{tmp}/nowhere"), "nowhere: no such file or folder"),
        (("{base}", "{tmp}/idle"), "no chat runs found in the CANDIDATE captures"),
        (("{base}", "{base}", "--plot", "{tmp}/cdf.gif"), "must end in .png or .svg"),
        (("{base}", "{base}", "--max-p95-increase", "lots"), "is not a percentage"),
    ],
)
def test_bad_input_exits_2_with_one_line(release, tmp_path: Path, args, message) -> None:
    from test_runs_rules import Chat

    Chat().connect("c1", "alice").close("c1", 1).write(tmp_path / "idle")
    argv = [a.format(base=release("base"), tmp=tmp_path) for a in args]
    result = invoke(*argv)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    if "--plot" not in args and "--max-p95-increase" not in args:
        assert len(result.stderr.strip().splitlines()) == 1


def wstape(*args: str | os.PathLike) -> list[str]:
    return [sys.executable, "-m", "wstape", *map(str, args)]


def test_wstape_compare_runs_as_a_real_process(release) -> None:
    proc = subprocess.run(
        wstape("compare", release("base"), release("slow-tools")),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "tool_s:search" in proc.stdout
    # piped: no progress bar, nothing on stderr
    assert proc.stderr == ""


def run_with_tty_stderr(argv: list[str]) -> tuple[int, str]:
    """Runs argv with stdout piped and stderr on a pseudo-terminal; returns (code, stderr)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        cwd=ROOT,
        env={**os.environ, "TERM": "xterm"},
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    return proc.wait(60), seen.decode(errors="replace")


def test_progress_bar_shows_on_a_terminal(release) -> None:
    code, stderr = run_with_tty_stderr(wstape("compare", release("base"), release("base-again")))
    assert code == 0, stderr
    assert "comparing" in stderr
    assert "100%" in stderr


def test_analyze_progress_bar_shows_on_a_terminal(release) -> None:
    argv = wstape("analyze", release("base"), release("base-again"), "-q")
    code, stderr = run_with_tty_stderr(argv)
    assert code == 0, stderr
    assert "analyzing" in stderr and "100%" in stderr
