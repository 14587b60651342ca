"""Verdicts → JUnit XML, so CI systems show one test case per chat run and its failures."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from wstape.analyzer.reports.report import Report
from wstape.analyzer.reports.rows import every_verdict
from wstape.analyzer.reports.text import render_run
from wstape.analyzer.reports.visible import visible


def junit_xml(report: Report, suite: str = "wstape") -> bytes:
    """One <testsuite> with a <testcase> per run; a failed run's codes and messages go in
    its <failure> (type: the codes, comma-separated); a run cut short by the recording's end is
    <skipped>: neither passed nor failed."""
    verdicts = every_verdict(report, "a JUnit report")
    failures = len(report.failed)
    total_time = sum(v.total_s for v in verdicts)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(verdicts)),
        failures=str(failures),
        errors="0",
        skipped=str(sum(v.cut_short for v in verdicts)),
        time=f"{total_time:.3f}",
    )
    classname = f"{suite}.{_capture_name(report)}"
    for verdict in verdicts:
        run = verdict.run
        case = ET.SubElement(
            root, "testcase", classname=classname, name=run.label, time=f"{verdict.total_s:.3f}"
        )
        if verdict.failures:
            # One <failure> per case: JUnit readers count and show only one.
            node = ET.SubElement(
                case,
                "failure",
                type=",".join(verdict.codes),
                message="; ".join(f"{f.code}: {f.message}" for f in verdict.failures),
            )
            node.text = "\n".join(f"{f.code}: {f.message}" for f in verdict.failures)
        if verdict.cut_short:
            ET.SubElement(case, "skipped", message=f"cut short: {verdict.run.end}")
        ET.SubElement(case, "system-out").text = render_run(verdict)
    if report.warnings:
        ET.SubElement(root, "system-err").text = "\n".join(report.warnings)
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode", xml_declaration=True)
    return visible(text).encode("utf-8")


def _capture_name(report: Report) -> str:
    # JUnit readers split classname on dots; capture paths must not become packages.
    names = [c.rstrip("/").rsplit("/", 1)[-1].replace(".", "_") for c in report.captures]
    return names[0] if len(names) == 1 else "captures"
