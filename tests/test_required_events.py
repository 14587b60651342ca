"""The product's own required events: a profile's `required` and `--require EVENT` on analyze,
compare and replay fail the completed runs that lack the event, naming it, and only those; the
demo backend sends such an event with `--extra-event` or a run's `extra_events`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_runs_rules import GOOD, Chat, only
from wsclient import converse

from wstape.analyzer.profile import DEFAULT_PROFILE, ProfileError, profile_from_dict
from wstape.analyzer.protocols.events import Canonical

WSTAPE = [sys.executable, "-m", "wstape"]
PRODUCT_EVENT = "plan_ready"


def run_wstape(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*WSTAPE, *args], capture_output=True, text=True, timeout=90)


def two_completed(seen) -> bool:
    return sum(m.get("type") == "agent_completed" for m in seen.received_json()) >= 2


@pytest.fixture
def capture(tmp_path, start_backend, start_recorder) -> Path:
    backend = start_backend("--ping-interval", "0")
    rec = start_recorder(f"http://127.0.0.1:{backend.port}", out=tmp_path / "capture")
    payload = {"content": "a", "extra_events": [PRODUCT_EVENT]}
    with_it = {"type": "user_message", "payload": payload}
    without = {"type": "user_message", "payload": {"content": "b"}}
    url = rec.url(path="/ws?user_id=req")
    asyncio.run(converse(url, [with_it, without], done_when=two_completed))
    rec.stop()
    return rec.out


def statuses(report: dict) -> list[tuple[str, list[str]]]:
    runs = sorted(report["runs"], key=lambda r: "plan_ready" not in r["events"])
    return [(r["status"], [f["message"] for f in r["failures"]]) for r in runs]


def test_require_fails_only_the_runs_that_lack_the_product_event(capture: Path):
    plain = run_wstape("analyze", str(capture), "--json", "-")
    assert plain.returncode == 0, plain.stdout
    assert [s for s, _ in statuses(json.loads(plain.stdout))] == ["passed", "passed"]
    required = run_wstape("analyze", str(capture), "--json", "-", "--require", PRODUCT_EVENT)
    assert required.returncode == 1
    (first, none), (second, messages) = statuses(json.loads(required.stdout))
    assert (first, none, second) == ("passed", [], "failed")
    assert messages == [f"Missing required events: {{'{PRODUCT_EVENT}'}}"]


def test_profile_required_names_the_product_event_too(capture: Path, tmp_path: Path):
    kinds = ", ".join(f'"{k}"' for k in DEFAULT_PROFILE.required)
    profile = tmp_path / "product.toml"
    profile.write_text(f'required = [{kinds}, "{PRODUCT_EVENT}"]\n')
    result = run_wstape("analyze", str(capture), "--json", "-", "--profile", str(profile))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [s for s, _ in statuses(report)] == ["passed", "failed"]
    assert report["summary"]["failures"]["missing_events"] == 1


def test_compare_judges_runs_with_the_required_event(capture: Path):
    for require, passed in (((), 2), (("--require", PRODUCT_EVENT), 1)):
        result = run_wstape("compare", str(capture), str(capture), "--json", "-", *require)
        assert result.returncode == 0, result.stderr
        releases = json.loads(result.stdout)
        assert releases["baseline"]["passed"] == passed
        assert releases["candidate"]["passed"] == passed


def test_replay_judges_the_replayed_runs_with_the_required_event(
    capture: Path, start_backend, tmp_path: Path
):
    backend = start_backend("--ping-interval", "0")
    result = run_wstape(
        "replay", str(capture), "--target", backend.url, "--out", str(tmp_path / "next"),
        "--as-fast-as-possible", "--json", "-", "--require", PRODUCT_EVENT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)["analysis"]["summary"]
    assert (summary["passed"], summary["failed"]) == (1, 1)
    assert summary["failures"]["missing_events"] == 1


# ------------------------------------------------------------------ unit


def product_run(with_event: bool):
    steps = GOOD[:1] + (((0.15, PRODUCT_EVENT, {}),) if with_event else ()) + GOOD[1:]
    return Chat().connect("c1", "alice").run("c1", "alice", "r1", steps=steps).close("c1", 5)


@pytest.mark.parametrize("with_event", [True, False])
def test_required_product_event_by_its_backend_name(with_event: bool):
    profile = DEFAULT_PROFILE.with_required([PRODUCT_EVENT])
    verdict = only(product_run(with_event).report(profile))
    assert verdict.passed is with_event
    assert not any(PRODUCT_EVENT in w for w in verdict.warnings)  # judged, not "unknown"
    assert only(product_run(with_event).report()).passed


def test_require_of_a_canonical_kind_adds_it_to_the_required_kinds():
    profile = DEFAULT_PROFILE.with_required(["partial_result", PRODUCT_EVENT, PRODUCT_EVENT])
    assert profile.required[-1] is Canonical.PARTIAL_RESULT
    assert profile.required_events == (PRODUCT_EVENT,)


def test_profile_required_splits_kinds_from_product_events():
    profile = profile_from_dict({"required": ["agent_started", "agent_completed", "x.done"]})
    assert profile.required == (Canonical.AGENT_STARTED, Canonical.AGENT_COMPLETED)
    assert profile.required_events == ("x.done",)
    with pytest.raises(ProfileError):
        profile_from_dict({"required": [""]})


def test_a_run_that_failed_gracefully_owes_no_product_event():
    steps = (*GOOD[:2], (0.3, "agent_error", {"error": "boom"}))
    chat = Chat().connect("c1", "alice").run("c1", "alice", "r1", steps=steps).close("c1", 5)
    verdict = only(chat.report(DEFAULT_PROFILE.with_required([PRODUCT_EVENT])))
    assert verdict.passed and verdict.outcome == "error"
