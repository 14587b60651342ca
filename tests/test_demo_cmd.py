"""`wstape demo`, what `make demo` runs: backend, recorder, users, a capture."""

from __future__ import annotations

import subprocess
import sys

from wstape.recorder.capture import Close, Open, read_capture


def test_demo_records_one_connection_per_user_and_says_where(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "wstape", "demo", "-o", str(out),
         "--scenario", "good", "--scenario", "tool_error", "--scenario", "missing_event"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"capture: {out}" in result.stdout
    # the summary of the analysis follows: the missing_event user is the one failure
    assert "3 runs: 2 passed, 1 failed" in result.stdout
    assert "missing_events" in result.stdout
    records = list(read_capture(out))
    opens = [r for r in records if isinstance(r, Open)]
    assert sorted(r.path.split("user_id=")[1] for r in opens) == ["user-1", "user-2", "user-3"]
    # every connection ended cleanly before the recorder stopped
    assert len([r for r in records if isinstance(r, Close)]) == 3
