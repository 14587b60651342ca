"""The bundled sample capture still reads and judges as it did when recorded: the
format and the rules stay compatible with captures already on disk."""

from __future__ import annotations

from pathlib import Path

import wstape

SAMPLE = Path(__file__).resolve().parent.parent / "captures" / "sample"


def test_sample_capture_gives_the_recorded_verdicts():
    report = wstape.validate(SAMPLE)
    by_user = {v.run.user_id: v for v in report.verdicts}
    assert sorted(by_user) == ["user-1", "user-2", "user-3", "user-4", "user-5"]
    assert by_user["user-1"].passed and by_user["user-1"].outcome == "completed"
    assert by_user["user-2"].passed and by_user["user-2"].outcome == "error"
    assert by_user["user-3"].codes == ("missing_events",)
    assert by_user["user-4"].codes == ("order",)
    assert by_user["user-5"].passed and len(by_user["user-5"].run.connections) == 2


AG_UI_SAMPLE = SAMPLE.parent / "ag-ui"


def test_ag_ui_sample_capture_gives_the_recorded_verdicts():
    # Recorded with: wstape demo --protocol ag-ui --scenario good --scenario run_error
    #   --scenario missing_start --scenario late_event --scenario unpaired_tool
    report = wstape.validate(AG_UI_SAMPLE)
    assert (report.profile, report.detected) == ("ag-ui", True)
    by_user = {v.run.user_id: v for v in report.verdicts}
    assert sorted(by_user) == ["user-1", "user-2", "user-3", "user-4", "user-5"]
    assert by_user["user-1"].passed and by_user["user-1"].outcome == "completed"
    assert by_user["user-2"].passed and by_user["user-2"].outcome == "error"
    assert by_user["user-3"].codes == ("missing_events", "protocol")
    assert by_user["user-4"].codes == ("order", "protocol")
    assert by_user["user-5"].codes == ("unpaired_tool",)
    assert not report.warnings
