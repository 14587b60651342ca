"""How fast the analyzer judges a capture: `wstape.analyze` (what `wstape analyze` runs),
`wstape.load` and the same session from a mitmproxy flow file, against the floors measured in
the same run on the same files: a raw msgpack decode, that decode plus parsing every payload
(`json.loads`, `orjson`, `msgspec.json`: the floor of any analyzer that reads the JSON), and
the capture's typed records (`read_capture`); one worker against two; and analyze's peak memory
on two captures ten times apart in size, with the bounded report `wstape analyze` keeps and
with every run's verdict kept (as for --json)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgpack
import msgspec
import orjson

from bench import chat
from bench.reader import wstape_reader
from bench.table import print_table
from wstape.recorder.capture import READ_CHUNK, segment_files

# issue 19: analyze at >= 1/3 (goal 1/2) of the speed of msgpack + orjson on the same capture
TARGET_SHARE, GOAL_SHARE = 1 / 3, 1 / 2
RAW, JSON_FLOOR = "raw msgpack.Unpacker", "msgpack + json.loads"
ORJSON, MSGSPEC = "msgpack + orjson.loads", "msgpack + msgspec.json"
READER = "wstape.recorder.capture.read_capture"
ANALYZE, WORKERS2 = "wstape.analyze (wstape analyze)", "wstape.analyze, workers=2"
LOAD, FLOWS = "wstape.load (DataFrame)", "wstape.analyze, mitmproxy flow file"
MESSAGE = 2  # the record type of a message (docs/capture-format.md)
MEMORY_GAP_S = 30.0


@dataclass(frozen=True)
class Plan:
    rounds: int  # best of this many timings per path
    connections: int  # clients chatting at once, in both memory captures
    runs: int  # in the timed capture; the small memory capture has a tenth
    segment_bytes: int  # small enough that workers=2 has segments to share


FULL = Plan(rounds=2, connections=100, runs=30_000, segment_bytes=16 * 2**20)
QUICK = Plan(rounds=2, connections=40, runs=3_000, segment_bytes=2 * 2**20)


def raw_decode(directory: Path) -> int:
    """The floor: every record decoded by msgpack, nothing checked or typed; counts messages."""
    count = 0
    for file in segment_files(directory):
        with open(file, "rb") as stream:
            for record in msgpack.Unpacker(stream, read_size=READ_CHUNK, raw=False):
                count += record[0] == MESSAGE
    return count


def decode_and_parse(loads: Callable[[bytes], object]) -> Callable[[Path], int]:
    """The floor for an analyzer of JSON events: every record decoded, every text payload
    parsed with `loads`, nothing else."""

    def run(directory: Path) -> int:
        count = 0
        for file in segment_files(directory):
            with open(file, "rb") as stream:
                for record in msgpack.Unpacker(stream, read_size=READ_CHUNK, raw=False):
                    if record[0] == MESSAGE:
                        count += 1
                        if record[4]:
                            loads(record[5])
        return count

    return run


def _analyze(workers: int = 1) -> Callable[[Path], int]:
    def run(path: Path) -> int:
        from wstape import analyze

        return sum(analyze(path, keep_events=False, workers=workers).frames.values())

    return run


def _load(path: Path) -> int:
    from wstape import load

    return len(load(path))


def run(plan: Plan) -> None:
    with tempfile.TemporaryDirectory(prefix="wstape-bench-") as tmp:
        big = chat.Shape(plan.connections, plan.runs)
        capture, flows = Path(tmp) / "capture", Path(tmp) / "session.flows"
        frames, payload_bytes = chat.write_capture(capture, big, plan.segment_bytes)
        chat.write_flows(flows, big)
        files = segment_files(capture)
        disk_bytes = sum(file.stat().st_size for file in files)
        paths = {RAW: raw_decode, JSON_FLOOR: decode_and_parse(json.loads),
                 ORJSON: decode_and_parse(orjson.loads),
                 MSGSPEC: decode_and_parse(msgspec.json.Decoder().decode), READER: wstape_reader,
                 ANALYZE: _analyze(), WORKERS2: _analyze(2), LOAD: _load,
                 FLOWS: _analyze()}  # fmt: skip
        inputs = {name: flows if name == FLOWS else capture for name in paths}
        best = {name: float("inf") for name in paths}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a clean capture must read without a warning
            # Alternating rounds, best of each: the least disturbed run of every path.
            for _ in range(plan.rounds):
                for name, read in paths.items():
                    start = time.perf_counter()
                    counted = read(inputs[name])
                    best[name] = min(best[name], time.perf_counter() - start)
                    assert counted == frames, f"{name} counted {counted} of {frames} frames"
        # Memory: two recordings of the same users, one ten times longer. They pause half a
        # minute between runs, so even the short one outlasts the analyzer's memory of
        # ended runs (analyzer/runs.py REMEMBER_S, 10 to 20 minutes of capture time).
        short, long = Path(tmp) / "short", Path(tmp) / "long"
        for path, runs in ((short, plan.runs // 10), (long, plan.runs)):
            shape = chat.Shape(plan.connections, runs, gap_s=MEMORY_GAP_S)
            chat.write_capture(path, shape, plan.segment_bytes)
        memory = [_peak_memory(path, every) for every in (False, True) for path in (short, long)]
    print(
        f"analyzer: {frames:,} frames ({big.runs:,} runs over {big.connections} connections at "
        f"once) in {len(files)} segment files ({disk_bytes / 2**20:,.1f} MiB); best of "
        f"{plan.rounds} alternating runs each"
    )
    _report_speed(frames, best)
    print(
        f"size on disk: {disk_bytes:,} bytes for {payload_bytes:,} payload bytes "
        f"({disk_bytes / payload_bytes:.3f}x)\n"
    )
    _report_memory(memory)


def _report_speed(frames: int, best: dict[str, float]) -> None:
    floors = (RAW, ORJSON, MSGSPEC, JSON_FLOOR)
    rows = [
        [name, f"{frames / seconds:,.0f}", f"{seconds:.3f}",
         *(f"{best[floor] / seconds:.3f}" for floor in floors)]
        for name, seconds in best.items()
    ]  # fmt: skip
    print_table(["path", "frames/s", "seconds", "vs raw", "vs +orjson", "vs +msgspec",
                 "vs +json"], rows)  # fmt: skip
    share = best[ORJSON] / best[ANALYZE]
    verdict = "MISSED" if share < TARGET_SHARE else "met" if share < GOAL_SHARE else "goal met"
    print(
        f"analyze runs at {share:.3f} of msgpack + orjson (target >= 1/3, goal 1/2: {verdict}), "
        f"{best[MSGSPEC] / best[ANALYZE]:.3f} of msgpack + msgspec.json, "
        f"{best[JSON_FLOOR] / best[ANALYZE]:.3f} of msgpack + json.loads and "
        f"{best[RAW] / best[ANALYZE]:.3f} of raw msgpack"
    )
    print(
        f"workers=2 vs 1: {best[ANALYZE] / best[WORKERS2]:.2f}x the speed "
        f"({best[WORKERS2]:.2f} s against {best[ANALYZE]:.2f} s)"
    )


# Runs in a fresh interpreter so that one capture's peak is not another's.
_MEASURE = """
import json, sys
def rss(key):
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith(key))
import wstape
base = rss("VmRSS:")
report = wstape.analyze(sys.argv[1], keep_events=False, keep_verdicts=sys.argv[2] == "every")
print(json.dumps({"base": base, "peak": rss("VmHWM:"), "runs": len(report),
                  "held": len(report.verdicts), "frames": sum(report.frames.values())}))
"""
BOUNDED, EVERY = "bounded (wstape analyze)", "every verdict (--json)"


def _peak_memory(capture: Path, every: bool) -> dict:
    mode = "every" if every else "bounded"
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(capture), mode],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    figures = json.loads(out.stdout)
    figures["mib"] = sum(f.stat().st_size for f in segment_files(capture)) / 2**20
    figures["report"] = EVERY if every else BOUNDED
    return figures


def _report_memory(memory: list[dict]) -> None:
    rows = [
        [m["report"], f"{m['frames']:,} frames", f"{m['runs']:,}", f"{m['held']:,}",
         f"{m['mib']:,.1f}", f"{m['base'] / 1024:,.1f}", f"{m['peak'] / 1024:,.1f}",
         f"{(m['peak'] - m['base']) / 1024:,.1f}"]
        for m in memory
    ]  # fmt: skip
    print(
        f"analyze's peak memory (keep_events=False, one process): the same connections at "
        f"once, each user pausing ~{MEMORY_GAP_S:g} s between runs, one recording ten times "
        f"longer than the other"
    )
    print_table(["report", "capture", "runs", "verdicts held", "MiB on disk",
                 "RSS after import MiB", "peak RSS MiB", "growth MiB"], rows)  # fmt: skip
    for small, big in (memory[:2], memory[2:]):
        print(
            f"{big['report']}: {big['mib'] / small['mib']:.1f}x the capture, "
            f"{big['peak'] / small['peak']:.2f}x the peak RSS "
            f"({(big['peak'] - small['peak']) / 1024:+,.1f} MiB)"
        )
    print()
