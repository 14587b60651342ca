"""Verdicts → pictures: run timelines (events as marks, tools as bars, the longest silence as a
line under its row, targets as dashed lines) and the distributions of first-event latency, tool
durations, total duration, longest silence and first text, as PNG or SVG.

Figures are built with matplotlib's object API (no pyplot), so plotting never opens a window
nor needs a display. Compare's overlaid CDFs live in compare_plots.py.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

from wstape.analyzer.pipeline.verdicts import Code, Verdict
from wstape.analyzer.profile import Targets
from wstape.analyzer.protocols.events import Canonical
from wstape.analyzer.reports.report import Report
from wstape.analyzer.reports.rows import every_verdict
from wstape.analyzer.reports.visible import visible
from wstape.recorder.private import open_private

C = Canonical
DPI = 100
PASS_COLOR, FAIL_COLOR, TARGET_COLOR, TOOL_COLOR = "#1a7f37", "#cf222e", "#bf8700", "#54aeff"
# Mark, color and legend name per kind; tools are bars, their two events small ticks on them.
MARKS: dict[Canonical, tuple[str, str, str]] = {
    C.USER_MESSAGE: ("o", "#24292f", "user message"),
    C.AGENT_STARTED: (">", PASS_COLOR, "agent_started"),
    C.AGENT_THINKING: ("^", "#8250df", "agent_thinking"),
    C.TOOL_EXECUTING: ("|", "#0550ae", "tool start/end"),
    C.TOOL_COMPLETED: ("|", "#0550ae", "tool start/end"),
    C.PARTIAL_RESULT: ("D", "#bc4c00", "partial_result"),
    C.AGENT_COMPLETED: ("s", PASS_COLOR, "agent_completed"),
    C.TOOL_ERROR: ("X", FAIL_COLOR, "error"),
    C.ERROR: ("X", FAIL_COLOR, "error"),
    C.UNKNOWN: ("x", "#6e7781", "unknown type"),
}
TOOL_BAR, TOOL_OPEN = "tool running", "tool never completed"
SILENCE, SILENCE_COLOR = "longest silence", "#8c959f"
OFF_SCALE = 3.0  # a target further right than this × the data is named, not drawn


def save(figure: Figure, path: str | os.PathLike) -> None:
    """Writes the figure as PNG or SVG, by the file's extension, readable by its owner only."""
    kind = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    _make_text_visible(figure)
    # SVG text stays text (run ids searchable and selectable), not outlines of glyphs.
    with matplotlib.rc_context({"svg.fonttype": "none"}), open_private(path, "wb") as out:
        figure.savefig(out, format=kind, dpi=DPI, bbox_inches="tight")


def _make_text_visible(figure: Figure) -> None:
    """Run ids, types and tool names come from captures: escape their format characters."""
    for artist in figure.findobj(Text):
        text = artist.get_text()
        shown = visible(text)
        if shown != text:
            artist.set_text(shown)


def png_bytes(figure: Figure, dpi: int = DPI) -> bytes:
    _make_text_visible(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def failed_first(verdicts: Sequence[Verdict]) -> list[Verdict]:
    """Failed runs, then passed ones, each in start order: the order people read reports in."""
    return [v for v in verdicts if v.failed] + [v for v in verdicts if not v.failed]


# ---------------------------------------------------------------- timelines


def run_label(verdict: Verdict, width: int = 30) -> str:
    run = verdict.run
    label = run.label if len(run.label) <= width else run.label[: width - 1] + "…"
    user = f"  {run.user_id}" if run.user_id else ""
    mark = "–" if verdict.cut_short else "✓" if verdict.passed else "✗"
    # Tick labels are drawn from this string, after _make_text_visible has run.
    return visible(f"{mark} {label}{user}")


TOOL_STYLE = {
    "height": 0.5,
    "color": TOOL_COLOR,
    "alpha": 0.55,
    "edgecolor": "#0550ae",
    "zorder": 2,
}
MARK_STYLE = {"markersize": 7, "linestyle": "none", "zorder": 3}


def _draw_run(ax: Axes, row: int, verdict: Verdict, kinds: set[str]) -> float:
    """Draws one run on row `row`, adding the legend names it used to `kinds`; returns the last
    second it reaches."""
    start = verdict.run.started
    reach = verdict.total_s
    for tool in verdict.tools:
        left = tool.started - start
        done = tool.duration_s is not None
        # A tool that never completed runs to the end of its run, hatched.
        width = tool.duration_s if done else max(reach - left, 0.0)
        ax.barh(row, width, left=left, hatch=None if done else "//", **TOOL_STYLE)
        kinds.add(TOOL_BAR if done else TOOL_OPEN)
        reach = max(reach, left + width)
    for event in verdict.run.events:
        kind = event.canonical
        if kind not in MARKS or (event.from_client and kind is not C.USER_MESSAGE):
            continue
        marker, color, name = MARKS[kind]
        ax.plot(event.ts - start, row, marker=marker, color=color, **MARK_STYLE)
        kinds.add(name)
        reach = max(reach, event.ts - start)
    _draw_silence(ax, row, verdict, kinds)
    if verdict.codes:
        # The failure codes at the row's end: why it is red, without a trip to the text report.
        ax.annotate(
            ", ".join(verdict.codes),
            xy=(reach, row),
            xytext=(8, 0),
            va="center",
            textcoords="offset points",
            fontsize=8,
            color=FAIL_COLOR,
        )
    return reach


def _draw_silence(ax: Axes, row: int, verdict: Verdict, kinds: set[str]) -> None:
    """The longest silence as a solid line just under the run's row; red and labelled when it
    failed long_silence."""
    silence = verdict.longest_silence
    if silence is None or silence.seconds <= 0:
        return
    failed = Code.LONG_SILENCE in verdict.codes
    color = FAIL_COLOR if failed else SILENCE_COLOR
    start, end = silence.at_s, silence.at_s + silence.seconds
    ax.plot([start, end], [row + 0.34] * 2, color=color, linewidth=2.5, marker="|",
            markersize=6, solid_capstyle="butt", zorder=2)  # fmt: skip
    kinds.add(SILENCE)
    if failed:
        ax.annotate(f"silent {silence.seconds:.3g} s", xy=((start + end) / 2, row + 0.34),
                    xytext=(0, -2), textcoords="offset points", ha="center", va="top",
                    fontsize=7, color=FAIL_COLOR)  # fmt: skip


def _targets(ax: Axes, reach: float, lines: Sequence[tuple[str, float]]) -> str:
    """Draws each target within sight as a labelled dashed line; returns a note naming those
    too far right to draw without squashing the data, for the axis label."""
    off = []
    for name, value in lines:
        if value <= reach * OFF_SCALE:
            ax.axvline(value, color=TARGET_COLOR, linestyle="--", linewidth=1.5, zorder=1)
            ax.annotate(
                f"{name} {value:g} s",
                xy=(value, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12),
                textcoords="offset points",
                color=TARGET_COLOR,
                fontsize=8,
            )
        else:
            off.append(f"{name} {value:g} s")
    return f"  (off scale: {', '.join(off)})" if off else ""


def _legend(ax: Axes, kinds: set[str]) -> None:
    handles: list = []
    for marker, color, name in MARKS.values():
        if name in kinds and name not in [h.get_label() for h in handles]:
            handles.append(
                Line2D(
                    [], [], marker=marker, color=color, linestyle="none", markersize=7, label=name
                )
            )
    if TOOL_BAR in kinds:
        handles.append(Patch(facecolor=TOOL_COLOR, alpha=0.55, label=TOOL_BAR))
    if TOOL_OPEN in kinds:
        handles.append(Patch(facecolor=TOOL_COLOR, alpha=0.55, hatch="//", label=TOOL_OPEN))
    if SILENCE in kinds:
        handles.append(Line2D([], [], color=SILENCE_COLOR, linewidth=2.5, label=SILENCE))
    ax.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncol=len(handles),
        fontsize=8,
        frameon=False,
        handletextpad=0.2,
        columnspacing=1.0,
    )


def draw_timelines(
    ax: Axes, verdicts: Sequence[Verdict], targets: Targets, title: str, legend: bool = True
) -> None:
    """One row per run, top to bottom in the given order, labelled with its id and user."""
    reach, kinds = 0.0, set()
    for row, verdict in enumerate(verdicts):
        reach = max(reach, _draw_run(ax, row, verdict, kinds))
    ax.set_yticks(range(len(verdicts)), [run_label(v) for v in verdicts], fontsize=8)
    for tick, verdict in zip(ax.get_yticklabels(), verdicts, strict=True):
        tick.set_color(FAIL_COLOR if verdict.failed else PASS_COLOR)
    ax.set_ylim(len(verdicts) - 0.5, -0.5)
    reach = reach or 1.0
    lines = [
        ("first-event target", targets.max_first_event_s),
        ("total target", targets.max_total_s),
    ]
    shown = [v for _, v in lines if v <= reach * OFF_SCALE]
    # Room on the right for the failure codes written after each failed run.
    room = 1.3 if any(v.codes for v in verdicts) else 1.05
    ax.set_xlim(0, max([reach * room, *(v * 1.08 for v in shown)]))
    note = _targets(ax, reach, lines)
    ax.set_xlabel("seconds since the user's message" + note)
    ax.set_title(title, loc="left", fontsize=11, pad=20 if legend else 6)
    ax.grid(axis="x", alpha=0.3)
    if legend:
        _legend(ax, kinds)


def run_figure(verdict: Verdict, targets: Targets) -> Figure:
    """One run's timeline, small and without a legend: what the HTML report shows by each run."""
    figure = Figure(figsize=(10, 1.7), layout="constrained")
    ax = figure.add_subplot()
    codes = ", ".join(verdict.codes) or "passed"
    title = f"{verdict.run.label}: {verdict.outcome}, {codes}"
    draw_timelines(ax, [verdict], targets, title, legend=False)
    return figure


# ---------------------------------------------------------------- distributions


def _describe(values: Sequence[float]) -> str:
    import numpy as np

    if not values:
        return "no values"
    p50, p95 = np.percentile(values, [50, 95])
    return f"n={len(values)}, p50 {p50:.3f} s, p95 {p95:.3f} s, max {max(values):.3f} s"


def draw_histogram(
    ax: Axes,
    series: dict[str, list[float]],
    title: str,
    target: tuple[str, float | None],
    counted: str = "runs",
) -> None:
    """A histogram per series (one per tool name) on shared bins, with the target marked (when
    there is one: the first-text target is off by default)."""
    values = [v for vs in series.values() for v in vs]
    if not values:
        ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center", color="#6e7781")
        ax.set_title(title, loc="left", fontsize=10)
        return
    top = max(values)
    bins = _bins(values)
    for name, data in series.items():
        ax.hist(
            data, bins=bins, alpha=0.6 if len(series) > 1 else 0.85, label=name, edgecolor="white"
        )
    if len(series) > 1:
        ax.legend(fontsize=8, frameon=False)
    elif counted != "runs":
        title = f"{title}: {next(iter(series))}"  # the one tool's name
    lines = [(name, value) for name, value in [target] if value is not None]
    shown = [value * 1.08 for _, value in lines if value <= top * OFF_SCALE]
    ax.set_xlim(0, max([top * 1.08, *shown]) or 1.0)
    note = _targets(ax, top, lines)
    ax.set_title(f"{title}\n{_describe(values)}", loc="left", fontsize=10)
    ax.set_xlabel("seconds" + note)
    ax.set_ylabel(counted)
    ax.grid(axis="y", alpha=0.3)


def _bins(values: Sequence[float]) -> list[float]:
    low, high = 0.0, max(values)
    count = min(max(int(len(values) ** 0.5) * 2, 8), 40)
    step = (high - low) / count or 0.01
    return [low + i * step for i in range(count + 2)]


def distribution_series(verdicts: Sequence[Verdict]) -> dict[str, dict[str, list[float]]]:
    first = [v.first_event_s for v in verdicts if v.first_event_s is not None]
    tools: dict[str, list[float]] = {}
    for verdict in verdicts:
        for tool in verdict.tools:
            if tool.duration_s is not None:
                tools.setdefault(tool.name or "(unnamed)", []).append(tool.duration_s)
    total = [v.total_s for v in verdicts]
    silence = [v.longest_silence_s for v in verdicts if v.longest_silence_s is not None]
    text = [v.first_text_s for v in verdicts if v.first_text_s is not None]
    return {"first": {"first event": first}, "tools": tools, "total": {"total": total},
            "silence": {"longest silence": silence}, "text": {"first text": text}}  # fmt: skip


def draw_distributions(axes: Sequence[Axes], verdicts: Sequence[Verdict], targets: Targets) -> None:
    series = distribution_series(verdicts)
    draw_histogram(
        axes[0], series["first"], "First-event latency (s)", ("target", targets.max_first_event_s)
    )
    draw_histogram(
        axes[1], series["tools"], "Tool durations (s)", ("target", targets.max_tool_s), "tool calls"
    )
    draw_histogram(
        axes[2], series["total"], "Total run duration (s)", ("target", targets.max_total_s)
    )
    draw_histogram(
        axes[3], series["silence"], "Longest silence per run, tool time left out (s)",
        ("target", targets.max_silence_s),
    )  # fmt: skip
    draw_histogram(
        axes[4], series["text"], "First text after the user's message (s)",
        ("target", targets.max_first_text_s),
    )  # fmt: skip


def report_figure(report: Report, max_runs: int = 20) -> Figure:
    """Timelines of up to `max_runs` runs (failed first) over the distributions of all runs."""
    verdicts = every_verdict(report, "plots of every run")
    if not verdicts:
        return _no_runs_figure(report)
    shown = failed_first(verdicts)[:max_runs]
    rows = max(len(shown), 1)
    height = 1.6 + 0.32 * rows + 3.4 * 2
    figure = Figure(figsize=(13, height), layout="constrained")
    # Six columns: three distributions in the first row below the timelines, two in the next.
    grid = figure.add_gridspec(3, 6, height_ratios=[1.6 + 0.32 * rows, 3.4, 3.4])
    timeline = figure.add_subplot(grid[0, :])
    failed = len(report.failed)
    title = (
        f"Run timelines: {len(shown)} of {len(verdicts)} runs "
        f"({failed} failed, shown first; red ✗ = failed)"
    )
    draw_timelines(timeline, shown, report.targets, title)
    panels = [grid[1, 0:2], grid[1, 2:4], grid[1, 4:6], grid[2, 0:3], grid[2, 3:6]]
    draw_distributions([figure.add_subplot(p) for p in panels], verdicts, report.targets)
    figure.suptitle(_suptitle(report), fontsize=12, x=0.01, ha="left")
    return figure


def _no_runs_figure(report: Report) -> Figure:
    """What a plot of an input with no chat runs shows: that, in words, not an empty chart."""
    figure = Figure(figsize=(8, 2.5), layout="constrained")
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.text(0.5, 0.5, "no runs: nothing was checked", ha="center", va="center", fontsize=16)
    figure.suptitle(_suptitle(report), fontsize=12, x=0.01, ha="left")
    return figure


def _suptitle(report: Report) -> str:
    names = [os.path.basename(c.rstrip("/")) or c for c in report.captures]
    where = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (
        f"wstape analyze — {where or 'captures'}: {len(report)} runs, {len(report.failed)} failed"
    )


def plot_report(report: Report, path: str | os.PathLike, max_runs: int = 20) -> None:
    """`wstape analyze --plot FILE`: the report figure as PNG or SVG (by extension)."""
    save(report_figure(report, max_runs), path)
