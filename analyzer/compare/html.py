"""A Comparison → one self-contained HTML file (`wstape compare --html`): the verdict, the metric
table, the overlaid CDFs, then each release's report; built from reports/html.py's pieces."""

from __future__ import annotations

from html import escape

from wstape.analyzer.compare.comparison import Comparison
from wstape.analyzer.compare.plots import comparison_figure
from wstape.analyzer.compare.text import delta_text, shown, summary_text
from wstape.analyzer.reports.html import image, page, report_sections, verdict_html
from wstape.analyzer.reports.plots import png_bytes
from wstape.analyzer.reports.report import Report


def _metric_rows(comparison: Comparison) -> str:
    head = (
        "<tr><th>metric</th><th>baseline</th><th>candidate</th><th>change</th><th>p</th>"
        "<th>runs</th><th>verdict</th><th>why</th></tr>"
    )
    rows = []
    for change in comparison.changes:
        if not shown(change):
            continue
        rows.append(
            f'<tr class="{change.verdict}" data-metric="{escape(change.name)}">'
            f"<td>{escape(change.metric.label)}</td>"
            f"<td class=num>{escape(summary_text(change, change.baseline))}</td>"
            f"<td class=num>{escape(summary_text(change, change.candidate))}</td>"
            f"<td class=num>{escape(delta_text(change))}</td>"
            f"<td class=num>{change.p_value:.2g}</td>"
            f"<td class=num>{change.baseline.n}/{change.candidate.n}</td>"
            f"<td>{change.verdict}</td><td>{escape(change.reason)}</td></tr>"
        )
    return f'<table class="metrics">{head}{"".join(rows)}</table>'


def comparison_html(
    comparison: Comparison, baseline: Report, candidate: Report, max_runs: int = 20
) -> str:
    """`wstape compare --html FILE`: the verdict, the metric table, the overlaid CDFs, then each
    release's summary and runs (failed first) with their timelines."""
    regressed = comparison.regressed
    if regressed:
        names = ", ".join(c.name for c in regressed)
        verdict = f'<p class="verdict bad">✗ regressed: {escape(names)}</p>'
    else:
        verdict = '<p class="verdict ok">✓ no regression</p>'
    plot = image(png_bytes(comparison_figure(comparison)), "CDFs of both releases per metric")
    body = [
        "<h1>wstape compare</h1>",
        verdict,
        "<h2>Metrics, baseline vs candidate</h2>",
        "<p class=muted>Times as p50 / p95 / max; rates as share of runs; failure codes no run "
        "of either release has are left out (the JSON report has every one).</p>",
        _metric_rows(comparison),
        f"<p class=muted>Rule: {escape(comparison.thresholds.rule())}.</p>",
        plot,
    ]
    for name, report, prefix in (("Candidate", candidate, "c-"), ("Baseline", baseline, "b-")):
        captures = ", ".join(report.captures)
        body += [f"<h2>{name}: {escape(captures)}</h2>", verdict_html(report)]
        body += report_sections(report, max_runs, prefix)
    return page("wstape compare", body)
