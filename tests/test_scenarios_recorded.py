"""Every demo scenario recorded through the real recorder, then judged: a good chat
passes, each broken backend fails with its own code, a graceful error passes with
outcome `error`, and a reconnect is one run over two connections."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import wstape
from wstape.demo.loopback import free_port
from wstape.demo.players import chat, user_message
from wstape.demo.session import demo_backend
from wstape.recorder.launch import RecordConfig, RecorderProcess

TARGETS = {"max_first_event_s": 0.4, "max_tool_s": 0.4, "max_total_s": 5.0}
BACKEND = ("--think-delay", "0.01", "--tool-delay", "0.05", "--slow-tool-delay", "0.7",
           "--first-delay", "0.7", "--ping-interval", "0.2")  # fmt: skip
SCENARIOS = ["good", "tool_error", "slow_tool", "slow_first", "missing_event", "unpaired_tool",
             "late_event", "no_completion", "drop", "leak", "reconnect"]  # fmt: skip


def record_scenarios(out: Path, *backend: str) -> dict[str, str]:
    """One capture with one concurrent user per scenario, through the real recorder, from a
    demo backend given BACKEND and `backend`; returns user → scenario."""
    users = {f"user-{i}": scenario for i, scenario in enumerate(SCENARIOS, 1)}
    with demo_backend(*BACKEND, *backend) as port:
        cfg = RecordConfig(out=out, upstream=f"http://127.0.0.1:{port}", listen_port=free_port())
        with RecorderProcess(cfg):
            url = f"ws://127.0.0.1:{cfg.listen_port}/ws"

            async def everyone():
                # no_completion never ends by itself: its user gives up after 1.5 s
                return await asyncio.gather(*[
                    chat(url, user, [user_message(scenario, 1)], linger=0.5,
                         timeout=1.5 if scenario == "no_completion" else 10)
                    for user, scenario in users.items()
                ])  # fmt: skip

            asyncio.run(everyone())
    return users


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """One capture with one concurrent user per scenario; returns it and user → scenario."""
    out = tmp_path_factory.mktemp("scenarios") / "capture"
    return out, record_scenarios(out)


def verdicts_by_scenario(recorded, **targets) -> dict[str, list]:
    out, users = recorded
    report = wstape.validate(out, **{**TARGETS, **targets})
    by_scenario: dict[str, list] = {}
    for verdict in report.verdicts:
        by_scenario.setdefault(users[verdict.run.user_id], []).append(verdict)
    return by_scenario


@pytest.mark.parametrize(
    "scenario, code",
    [
        ("slow_tool", "slow_tool"),
        ("slow_first", "slow_first_event"),
        ("missing_event", "missing_events"),
        ("unpaired_tool", "unpaired_tool"),
        ("late_event", "order"),
        ("no_completion", "no_completion"),
        ("drop", "no_completion"),
        ("leak", "isolation"),
    ],
)
def test_broken_backend_fails_with_its_code(recorded, scenario, code):
    (verdict,) = verdicts_by_scenario(recorded)[scenario]
    assert not verdict.passed
    assert code in verdict.codes


def test_good_chat_passes(recorded):
    (verdict,) = verdicts_by_scenario(recorded)["good"]
    assert verdict.passed and verdict.outcome == "completed" and not verdict.codes


def test_tool_failure_with_error_event_passes_with_outcome_error(recorded):
    (verdict,) = verdicts_by_scenario(recorded)["tool_error"]
    assert verdict.passed and verdict.outcome == "error"


def test_reconnect_mid_run_is_one_run_over_two_connections(recorded):
    (verdict,) = verdicts_by_scenario(recorded)["reconnect"]
    assert verdict.passed and len(verdict.run.connections) == 2


def test_run_longer_than_the_total_target_fails_slow_total(recorded):
    (good,) = verdicts_by_scenario(recorded)["good"]
    (verdict,) = verdicts_by_scenario(recorded, max_total_s=good.total_s / 2)["good"]
    assert verdict.codes == ("slow_total",)
