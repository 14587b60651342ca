"""`wstape analyze --plot` on real recordings of the demo backend: the PNG is a real picture of the
right size with timelines (failed runs in red, tools as bars) and distributions; SVG keeps run ids
and titles as text; targets in sight are drawn, targets far away are named."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from recordings import recorded

from wstape import analyze as analyze_captures
from wstape.analyzer.cli.analyze import analyze_command
from wstape.analyzer.reports.plots import FAIL_COLOR, TOOL_COLOR, failed_first, report_figure

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args: str | os.PathLike):
    return CliRunner().invoke(analyze_command, [str(a) for a in args])


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 runs of four scenarios; the missing_event and unpaired_tool ones fail."""
    return recorded(tmp_path_factory, "mixed")


def rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


def pixels(path: Path) -> dict[tuple[int, int, int], int]:
    image = Image.open(path).convert("RGB")
    return {color: n for n, color in image.getcolors(maxcolors=1 << 22)}


def test_png_plot_has_timelines_and_distributions(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs.png"
    result = invoke(mixed, "-q", "--plot", out)
    assert result.exit_code == 1, result.output  # the mixed release has failing runs
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 60_000
    image = Image.open(out)
    assert image.width > 1200 and image.height > 900  # 16 timeline rows over 3 histograms
    count = pixels(out)
    white = count.get((255, 255, 255), 0)
    assert white < 0.9 * image.width * image.height  # not an empty canvas
    assert count.get(rgb(FAIL_COLOR), 0) > 300  # the failed runs' labels and codes, in red
    assert sum(n for c, n in count.items() if _near(c, (161, 206, 253))) > 5_000  # tool bars


def _near(color: tuple[int, int, int], target: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(color, target, strict=True))


def test_fewer_timelines_make_a_shorter_picture(mixed: Path, tmp_path: Path) -> None:
    small, full = tmp_path / "small.png", tmp_path / "full.png"
    invoke(mixed, "-q", "--plot", small, "--timelines", "3")
    invoke(mixed, "-q", "--plot", full)
    assert Image.open(small).height + 300 < Image.open(full).height


def test_svg_keeps_run_ids_titles_and_units_as_text(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs.svg"
    invoke(mixed, "-q", "--plot", out)
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    report = analyze_captures(mixed)
    first_failed = failed_first(report.verdicts)[0].run.label
    assert first_failed in svg
    for text in ("Run timelines: 16 of 16 runs", "First-event latency (s)", "Tool durations (s)",
                 "Total run duration (s)", "seconds since the user", "missing_events"):  # fmt: skip
        assert text in svg, text
    # the demo's runs take 0.1 s: the 2 s and 30 s targets are named, not drawn
    assert re.search(r"off scale: first-event target 2 s, total target 30 s", svg)


def test_targets_in_sight_are_drawn_as_lines(mixed: Path) -> None:
    report = analyze_captures(mixed, max_total_s=0.2, max_first_event_s=0.05)
    figure = report_figure(report)
    timeline = figure.axes[0]
    dashed = [line for line in timeline.get_lines() if line.get_linestyle() == "--"]
    assert sorted(line.get_xdata()[0] for line in dashed) == [0.05, 0.2]
    labels = [t.get_text() for t in timeline.texts]
    assert "first-event target 0.05 s" in labels and "total target 0.2 s" in labels


def test_failed_runs_come_first_in_red(mixed: Path) -> None:
    report = analyze_captures(mixed)
    timeline = report_figure(report).axes[0]
    ticks = timeline.get_yticklabels()
    failed = len(report.failed)
    assert failed == 8
    assert all(t.get_text().startswith("✗") for t in ticks[:failed])
    assert all(t.get_text().startswith("✓") for t in ticks[failed:])
    assert {t.get_color() for t in ticks[:failed]} == {FAIL_COLOR}
    bars = [p for p in timeline.patches if p.get_facecolor()[:3] == _unit(TOOL_COLOR)]
    assert len(bars) == sum(len(v.tools) for v in report.verdicts)


def _unit(color: str) -> tuple[float, float, float]:
    return tuple(c / 255 for c in rgb(color))


def test_bad_plot_extension_exits_2(mixed: Path, tmp_path: Path) -> None:
    result = invoke(mixed, "--plot", tmp_path / "runs.jpeg")
    assert result.exit_code == 2
    assert "must end in .png or .svg" in result.stderr


def test_analyze_plot_runs_as_a_real_process(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs.png"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "wstape.analyzer.cli.main",
            "analyze",
            str(mixed),
            "-q",
            "--plot",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "❌ 8 of 16 runs failed" in proc.stdout
    assert proc.stderr == ""  # piped: no progress bar
    assert out.stat().st_size > 60_000
