"""A Comparison → one picture: each distribution metric's CDF for both releases overlaid (so a
shift right is slower), with its verdict in the panel title and the target marked, and the pass
and failure rates side by side."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from wstape.analyzer.compare.model import Change, MetricChange, Unit
from wstape.analyzer.compare.text import shown

if TYPE_CHECKING:
    from wstape.analyzer.compare.comparison import Comparison
from wstape.analyzer.reports.plots import FAIL_COLOR, OFF_SCALE, PASS_COLOR, TARGET_COLOR, save

BASE_COLOR, CAND_COLOR = "#57606a", "#0969da"
VERDICT_COLORS = {Change.REGRESSED: FAIL_COLOR, Change.IMPROVED: PASS_COLOR}
COLUMNS = 3


def _target(change: MetricChange, comparison: Comparison) -> float | None:
    targets = comparison.targets
    name = change.metric.name
    if name == "first_event_s":
        return targets.max_first_event_s
    if name == "first_text_s":
        return targets.max_first_text_s
    if name == "longest_silence_s":
        return targets.max_silence_s
    if name == "total_s":
        return targets.max_total_s
    if name.startswith("tool_s:"):
        return targets.max_tool_s
    return None


def _ecdf(ax: Axes, values: tuple[float, ...], color: str, label: str, width: float) -> None:
    if not values:
        return
    data = np.sort(np.asarray(values, dtype=float))
    share = np.arange(1, len(data) + 1) / len(data)
    ax.step(
        np.concatenate([[0.0], data]),
        np.concatenate([[0.0], share]),
        where="post",
        color=color,
        linewidth=width,
        label=f"{label} (n={len(data)})",
    )


def draw_cdf(ax: Axes, change: MetricChange, comparison: Comparison) -> None:
    """Both releases' CDFs of one metric, the verdict and p-value in the title."""
    metric = change.metric
    # The baseline wide and the candidate narrow on top, so identical releases show both.
    _ecdf(ax, metric.baseline, BASE_COLOR, "baseline", 3.5)
    _ecdf(ax, metric.candidate, CAND_COLOR, "candidate", 1.6)
    top = max((*metric.baseline, *metric.candidate), default=1.0) or 1.0
    target = _target(change, comparison)
    right = top * 1.08
    unit = "seconds" if metric.unit is Unit.SECONDS else "agent events in the run"
    if target is not None and target <= top * OFF_SCALE:
        ax.axvline(target, color=TARGET_COLOR, linestyle="--", linewidth=1.5)
        ax.annotate(
            f"target {target:g} s",
            xy=(target, 0.03),
            color=TARGET_COLOR,
            fontsize=8,
            xytext=(3, 0),
            textcoords="offset points",
        )
        right = max(right, target * 1.08)
    elif target is not None:
        unit += f"  (off scale: target {target:g} s)"
    ax.set_xlim(0, right)
    ax.set_ylim(0, 1.02)
    color = VERDICT_COLORS.get(change.verdict, "#24292f")
    ax.set_title(
        f"{metric.label}: {change.verdict}\np = {change.p_value:.2g}  ({change.test})",
        loc="left",
        fontsize=10,
        color=color,
    )
    ax.set_xlabel(unit)
    ax.set_ylabel(
        "share of runs ≤ x"
        if metric.unit is not Unit.SECONDS or "tool" not in metric.name
        else "share of tool calls ≤ x"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def draw_rates(ax: Axes, comparison: Comparison) -> None:
    """Pass rate and every failure rate that either release has, as paired bars."""
    rates = [
        c for c in comparison.changes
        if c.metric.unit is Unit.RATE and (c.metric.name == "pass_rate" or any(c.metric.hits))
    ]  # fmt: skip
    positions = np.arange(len(rates))
    base = [c.baseline.mean or 0.0 for c in rates]
    cand = [c.candidate.mean or 0.0 for c in rates]
    for shift, values, color, name in (
        (-0.2, base, BASE_COLOR, "baseline"),
        (0.2, cand, CAND_COLOR, "candidate"),
    ):
        bars = ax.bar(positions + shift, [v * 100 for v in values], 0.4, color=color, label=name)
        ax.bar_label(bars, fmt="%.0f%%", fontsize=8)
    ax.set_xlim(-0.8, max(len(rates), 2) - 0.2)
    labels = [f"{c.metric.label}\n{c.verdict}" for c in rates]
    ax.set_xticks(positions, labels, fontsize=8)
    for tick, change in zip(ax.get_xticklabels(), rates, strict=True):
        tick.set_color(VERDICT_COLORS.get(change.verdict, "#24292f"))
    ax.set_ylim(0, 130)  # room above 100% for the values and the legend
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("% of runs")
    ax.set_title("Pass and failure rates (Fisher exact)", loc="left", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right", ncol=2)


def comparison_figure(comparison: Comparison) -> Figure:
    """One panel per distribution metric (CDFs), then the rates, three panels to a row."""
    cdfs = [c for c in comparison.changes if c.metric.unit is not Unit.RATE and shown(c)]
    panels = len(cdfs) + 1
    rows = math.ceil(panels / COLUMNS)
    figure = Figure(figsize=(5 * COLUMNS, 3.8 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, COLUMNS, squeeze=False).ravel()
    for ax, change in zip(axes, cdfs, strict=False):
        draw_cdf(ax, change, comparison)
    draw_rates(axes[len(cdfs)], comparison)
    for ax in axes[panels:]:
        ax.set_visible(False)
    verdict = "regressed: " + ", ".join(c.name for c in comparison.regressed)
    figure.suptitle(
        f"wstape compare — baseline {comparison.baseline.runs} runs vs candidate "
        f"{comparison.candidate.runs} runs; "
        + (verdict if comparison.regressed else "no regression"),
        fontsize=12,
        x=0.01,
        ha="left",
        color=FAIL_COLOR if comparison.regressed else "#24292f",
    )
    return figure


def plot_comparison(comparison: Comparison, path: str | os.PathLike) -> None:
    """`wstape compare --plot FILE`: the overlaid CDFs as PNG or SVG (by extension)."""
    save(comparison_figure(comparison), path)
