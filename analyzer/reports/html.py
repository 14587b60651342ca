"""Reports → one self-contained HTML file: the summary, the failing runs first, each run's
timeline, plots embedded as data: URIs and a Content-Security-Policy that forbids any fetch, so
the file opens the same from a CI artifact, a mail attachment or a laptop without a network.

Everything taken from a capture (run ids, event text) is escaped: frames are untrusted.
"""

from __future__ import annotations

import base64
import os
from collections import Counter
from collections.abc import Sequence
from html import escape

from wstape.analyzer.pipeline.verdicts import Code, Outcome, Verdict
from wstape.analyzer.reports.report import Report
from wstape.analyzer.reports.rows import every_verdict
from wstape.analyzer.reports.text import buffered_text, screen_lines, targets_text
from wstape.analyzer.reports.visible import visible
from wstape.recorder.private import open_private

MAX_EVENTS = 200  # per run's event table; the PNG timeline shows them all
RUN_DPI = 90
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1400px;
       padding: 0 16px; color: #24292f; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { margin-top: 32px; font-size: 18px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border-bottom: 1px solid #d0d7de; padding: 3px 10px; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.verdict { font-size: 18px; font-weight: 600; padding: 8px 12px; border-radius: 6px; }
.ok { background: #dafbe1; color: #1a7f37; } .bad { background: #ffebe9; color: #cf222e; }
tr.failed td, tr.regressed td { color: #cf222e; } tr.improved td { color: #1a7f37; }
article.run { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 14px; margin: 12px 0; }
article.run.failed { border-left: 6px solid #cf222e; }
article.run.passed { border-left: 6px solid #1a7f37; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
code, .mono { font-family: ui-monospace, monospace; font-size: 13px; }
.muted { color: #57606a; } ul.failures { margin: 4px 0; }
.mark { font-weight: 700; } tr.passed .mark, .passed > h3 .mark { color: #1a7f37; }
.failed > h3 .mark { color: #cf222e; }
"""


def _mark(passed: bool) -> str:
    # Plain marks, not emoji: headless and minimal systems often have no emoji font.
    return "✓" if passed else "✗"


def _status(verdict: Verdict) -> tuple[str, str]:
    """The run's status class and mark: a run cut short by the recording's end is neither."""
    if verdict.cut_short:
        return "cut_short", "–"
    return ("passed" if verdict.passed else "failed"), _mark(verdict.passed)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def image(png: bytes, alt: str, css_class: str = "plot") -> str:
    return f'<img class="{css_class}" alt="{escape(alt)}" src="{data_uri(png)}">'


def page(title: str, body: Sequence[str]) -> str:
    """A whole document around the body parts; nothing in it loads from elsewhere."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        made_by = f"wstape {version('wstape')}"
    except PackageNotFoundError:
        made_by = "wstape"
    return visible(
        "\n".join(
            [
                "<!doctype html>",
                '<html lang="en"><head><meta charset="utf-8">',
                f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
                *body,
                f'<footer class="muted"><p>Made by {escape(made_by)}.</p></footer>',
                "</body></html>",
                "",
            ]
        )
    )


def write(path: str | os.PathLike, document: str) -> None:
    with open_private(path, "w", encoding="utf-8") as out:
        out.write(document)


# ---------------------------------------------------------------- one analysis


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def summary_table(report: Report) -> str:
    verdicts = report.verdicts
    outcomes = Counter(v.outcome for v in verdicts)
    codes = Counter(code for v in verdicts for code in v.codes)
    t = report.targets
    rows = [
        ("captures", ", ".join(report.captures) or "-"),
        ("runs", f"{len(verdicts)}: {sum(v.passed for v in verdicts)} passed, "
                 f"{len(report.failed)} failed" + _cut_short(verdicts)),
        ("outcomes", ", ".join(f"{o} {outcomes[o]}" for o in Outcome if outcomes[o]) or "-"),
        ("failures", ", ".join(f"{c} {codes[c]}" for c in Code if codes[c]) or "none"),
        ("profile", f"{report.profile} (protocol {report.protocol}, "
                    f"{'detected from the frames' if report.detected else 'given'})"),
        ("targets", targets_text(t, " s")),
        ("connections", str(report.connections)),
    ]  # fmt: skip
    if report.tally.looks_buffered:
        rows.append(("stream", buffered_text(report)))
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    warnings = "".join(f"<li>{escape(w)}</li>" for w in report.warnings)
    extra = f'<h3>Warnings</h3><ul class="warnings">{warnings}</ul>' if warnings else ""
    return f'<table class="summary">{body}</table>{extra}'


def _anchor(prefix: str, verdict: Verdict) -> str:
    return f"{prefix}run-{verdict.run.ordinal}"


def runs_table(verdicts: Sequence[Verdict], prefix: str, detailed: set[int]) -> str:
    """Every run, failed first; a run with a timeline below links to it."""
    head = (
        "<tr><th></th><th>run</th><th>user</th><th>outcome</th><th>events</th>"
        "<th>first event</th><th>total</th><th>first text</th><th>longest silence</th>"
        "<th>failures</th></tr>"
    )
    rows = []
    for v in verdicts:
        label = escape(v.run.label)
        if v.run.ordinal in detailed:
            label = f'<a href="#{_anchor(prefix, v)}">{label}</a>'
        status, mark = _status(v)
        rows.append(
            f'<tr class="{status}" data-status="{status}"><td class=mark>{mark}</td>'
            f'<td class="mono">{label}</td><td>{escape(v.run.user_id or "-")}</td>'
            f"<td>{v.outcome}</td><td class=num>{sum(v.event_counts.values())}</td>"
            f"<td class=num>{_seconds(v.first_event_s)}</td>"
            f"<td class=num>{_seconds(v.total_s)}</td>"
            f"<td class=num>{_seconds(v.first_text_s)}</td>"
            f"<td class=num>{_seconds(v.longest_silence_s)}</td>"
            f"<td>{escape(', '.join(v.codes) or '-')}</td></tr>"
        )
    return f'<table class="runs">{head}{"".join(rows)}</table>'


def _events_table(verdict: Verdict) -> str:
    run = verdict.run
    # The client's results for its tool calls, from later requests, close the list.
    events = run.events + run.answers
    rows = [
        f"<tr><td class=num>{e.ts - run.started:.3f} s</td><td>{e.direction}</td>"
        f"<td class=mono>{escape(e.type or e.canonical.value)}</td>"
        f"<td class=mono>{escape(e.connection)}</td><td>{escape(e.text)}</td></tr>"
        for e in events[:MAX_EVENTS]
    ]
    more = len(events) - MAX_EVENTS
    tail = f'<p class="muted">and {more} more events</p>' if more > 0 else ""
    head = "<tr><th>at</th><th>from</th><th>type</th><th>connection</th><th>text</th></tr>"
    return (
        f"<details><summary>{len(events)} events</summary>"
        f'<table class="events">{head}{"".join(rows)}</table>{tail}</details>'
    )


def run_article(verdict: Verdict, report: Report, prefix: str) -> str:
    """One run: status, ids, failures, its timeline picture and its events."""
    from wstape.analyzer.reports.plots import png_bytes, run_figure

    run = verdict.run
    status, mark = _status(verdict)
    who = ", ".join(
        x for x in (f"user {run.user_id}" if run.user_id else "",
                    f"thread {run.thread_id}" if run.thread_id else "") if x
    )  # fmt: skip
    failures = "".join(
        f"<li><code>{f.code}</code> {escape(f.message)}</li>" for f in verdict.failures
    )
    warnings = "".join(f"<li>warning: {escape(w)}</li>" for w in verdict.warnings)
    # Event type names come from the capture: escaped like every other part of it.
    seen = "; ".join(screen_lines(verdict))
    screen = f'<p class="screen muted">{escape(seen)}</p>' if seen else ""
    picture = image(png_bytes(run_figure(verdict, report.targets), RUN_DPI),
                    f"timeline of {run.label}", "timeline")  # fmt: skip
    return (
        f'<article class="run {status}" id="{_anchor(prefix, verdict)}" data-status="{status}">'
        f"<h3><span class=mark>{mark}</span> "
        f"<span class=mono>{escape(run.label)}</span> "
        f'<span class="muted">{escape(who)} — {verdict.outcome}, '
        f"{_seconds(verdict.total_s)}</span></h3>"
        f'<ul class="failures">{failures}{warnings}</ul>{screen}{picture}'
        f"{_events_table(verdict) if run.events else ''}</article>"
    )


def report_sections(report: Report, max_runs: int, prefix: str = "") -> list[str]:
    """Summary, overview plot, the runs table and up to `max_runs` run timelines, failed first."""
    from wstape.analyzer.reports.plots import failed_first, png_bytes, report_figure

    ordered = failed_first(report.verdicts)
    detailed = ordered[:max_runs] if ordered and ordered[0].run.events else []
    parts = [summary_table(report)]
    if report.verdicts:
        overview = png_bytes(report_figure(report, max_runs))
        parts.append(image(overview, "run timelines and the distributions of all runs"))
    parts += [
        "<h2>Runs, failed first</h2>",
        runs_table(ordered, prefix, {v.run.ordinal for v in detailed}),
    ]
    if detailed:
        parts.append("<h2>Each run's timeline</h2>")
        parts += [run_article(v, report, prefix) for v in detailed]
        hidden = len(ordered) - len(detailed)
        if hidden:
            parts.append(
                f'<p class="muted">{hidden} more runs have no timeline here '
                "(--timelines N shows more; --json has every run).</p>"
            )
    return parts


def _cut_short(verdicts: Sequence[Verdict]) -> str:
    cut = sum(v.cut_short for v in verdicts)
    return f", {cut} cut short by the end of the recording (not judged)" if cut else ""


def verdict_html(report: Report) -> str:
    total, failed = len(report.verdicts), len(report.failed)
    if not total:
        return '<p class="verdict bad">✗ no chat runs found: nothing was checked</p>'
    apart = _cut_short(report.verdicts)
    if not failed and apart:
        passed = sum(v.passed for v in report.verdicts)
        return f'<p class="verdict ok">✓ no run failed: {passed} passed{apart}</p>'
    if not failed:
        return f'<p class="verdict ok">✓ all {total} runs passed</p>'
    return f'<p class="verdict bad">✗ {failed} of {total} runs failed{apart}</p>'


def report_html(report: Report, max_runs: int = 20) -> str:
    """`wstape analyze --html FILE`: the whole report as one document."""
    every_verdict(report, "an HTML report of every run")
    title = "wstape analyze"
    return page(
        title, [f"<h1>{title}</h1>", verdict_html(report), *report_sections(report, max_runs)]
    )


def write_report_html(report: Report, path: str | os.PathLike, max_runs: int = 20) -> None:
    write(path, report_html(report, max_runs))
