"""What recording costs an HTTP event stream: events per second of one long SSE stream (an event
per chunk, as fast as the scripted backend sends them) directly, through bare mitmdump told to
stream (`--set stream_large_bodies=1`: no addon at all) and through `wstape record`'s mitmdump,
in alternating rounds, as ratios; then the delay each event picks up on the way, events paced
20 ms apart and stamped when sent, through the same paths and through bare mitmdump as it is by
default, which buffers the whole response (what the recorder did before issue 16)."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs
from bench.table import print_table
from wstape.demo.loopback import free_port
from wstape.demo.sse_backend import stream

# An event the size and shape of a streamed model token (an Anthropic content_block_delta).
EVENT = "event: content_block_delta\ndata: " + json.dumps(
    {"type": "content_block_delta", "index": 0,
     "delta": {"type": "text_delta", "text": "the agent is thinking "}}
) + "\n\n"  # fmt: skip
STAMPED = 'event: delta\ndata: {"type": "delta", "sent": {{sent}}}\n\n'
DIRECT, BARE, BUFFERED, WSTAPE = (
    "direct to backend", "bare mitmdump, streaming", "bare mitmdump, as it is (buffers)",
    "wstape record",
)  # fmt: skip
PACE = 0.02  # seconds between two events of the delay stream


@dataclass(frozen=True)
class Plan:
    rounds: int
    events: int  # in the throughput stream
    paced: int  # events in the delay stream


FULL = Plan(rounds=8, events=20_000, paced=150)
QUICK = Plan(rounds=3, events=5_000, paced=50)


@dataclass
class Samples:
    eps: list[float] = field(default_factory=list)  # events per second, one per round
    cpu_us: list[float] = field(default_factory=list)  # the proxy's CPU time per event
    delay_ms: list[float] = field(default_factory=list)  # every paced event of every round


def _paths(backend: int, tmp: Path) -> dict[str, tuple[int, list[str] | None]]:
    """Each path's port and the command that serves it (None: the backend itself)."""
    bare, buffered, wstape = free_port(), free_port(), free_port()
    return {
        DIRECT: (backend, None),
        BARE: (bare, [*procs.mitmdump(backend, bare), "--set", "stream_large_bodies=1"]),
        BUFFERED: (buffered, procs.mitmdump(backend, buffered)),
        WSTAPE: (wstape, procs.wstape_record(backend, wstape, tmp / f"capture-{wstape}")),
    }


@contextlib.contextmanager
def _serving(response: dict, names: list[str], tmp: Path, cpus):
    """The backend with `response` on repeat, and a proxy for each named path; yields
    name → (port, proxy pid or None)."""
    proxy_cpus, rest = cpus
    script = tmp / f"script-{time.monotonic_ns()}.json"
    script.write_text(json.dumps({"responses": [response], "repeat": True}))
    port = free_port()
    backend = [sys.executable, "-m", "wstape.demo.sse_backend", "--port", str(port),
               "--script", str(script)]  # fmt: skip
    paths = _paths(port, tmp)
    with contextlib.ExitStack() as stack:
        stack.enter_context(procs.running(backend, port, rest))
        targets = {}
        for name in names:
            proxy_port, command = paths[name]
            pid = None
            if command is not None:
                pid = stack.enter_context(procs.running(command, proxy_port, proxy_cpus)).pid
            targets[name] = (proxy_port, pid)
        yield targets


def _read(port: int) -> list[tuple[float, bytes]]:
    """One POST's response, each piece with the time it was read (the standard library's
    client: a chunk as soon as it is there)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        json_body = {"Content-Type": "application/json"}
        connection.request("POST", "/v1/messages", b'{"q": 1}', json_body)
        response = connection.getresponse()
        pieces = []
        while chunk := response.read1(1 << 16):
            pieces.append((time.time(), chunk))
        return pieces
    finally:
        connection.close()


def _throughput(targets: dict, plan: Plan) -> dict[str, Samples]:
    results = {name: Samples() for name in targets}
    names = list(targets)
    for round_no in range(1 + plan.rounds):  # the first round warms up and is dropped
        for name in names:
            port, pid = targets[name]
            cpu = procs.cpu_seconds(pid) if pid else 0.0
            start = time.perf_counter()
            body = b"".join(chunk for _, chunk in _read(port))
            elapsed = time.perf_counter() - start
            assert body.count(b"\n\n") == plan.events, f"{name}: events lost"
            if round_no:
                results[name].eps.append(plan.events / elapsed)
                if pid:
                    results[name].cpu_us.append((procs.cpu_seconds(pid) - cpu) / plan.events * 1e6)
        names = names[1:] + names[:1]  # rotate, so no path always runs first
    return results


def _delays(targets: dict, plan: Plan, results: dict[str, Samples]) -> None:
    names = list(targets)
    for _ in range(plan.rounds):
        for name in names:
            for arrived, chunk in _read(targets[name][0]):
                for sent in re.findall(rb'"sent": ([0-9.]+)', chunk):
                    results[name].delay_ms.append((arrived - float(sent)) * 1e3)
        names = names[1:] + names[:1]


def run(plan: Plan) -> None:
    fast = stream([(0, EVENT)], times=plan.events)
    paced = stream([(PACE, STAMPED)], times=plan.paced)
    streaming = [DIRECT, BARE, WSTAPE]
    with tempfile.TemporaryDirectory(prefix="wstape-bench-") as tmp, procs.cpus_apart() as cpus:
        with _serving(fast, streaming, Path(tmp), cpus) as targets:
            results = _throughput(targets, plan)
        results[BUFFERED] = Samples()
        with _serving(paced, [*streaming, BUFFERED], Path(tmp), cpus) as targets:
            _delays(targets, plan, results)
    _report(results, plan, pinned=cpus[0] is not None)
    _report_tap(statistics.median(results[BARE].cpu_us))


def _report(results: dict[str, Samples], plan: Plan, pinned: bool) -> None:
    bare = results[BARE]
    rows = []
    for name, samples in results.items():
        eps = ["-", "-", "-", "-"]
        if samples.eps:
            eps = [f"{statistics.median(samples.eps):,.0f}", f"{_ratio(samples.eps, bare.eps):.3f}",
                   "-", "-"]  # fmt: skip
        if samples.cpu_us:
            eps[2:] = [f"{statistics.median(samples.cpu_us):.1f}",
                       f"{_ratio(samples.cpu_us, bare.cpu_us):.3f}"]  # fmt: skip
        cuts, worst = statistics.quantiles(samples.delay_ms, n=100), max(samples.delay_ms)
        rows.append([name, *eps, f"{cuts[49]:.2f}", f"{cuts[98]:.2f}", f"{worst:.1f}"])
    print(
        f"sse: one stream of {plan.events:,} events of {len(EVENT)} bytes, one chunk each, sent "
        f"as fast as the backend can, through each path in turn; {plan.rounds} alternating "
        f"rounds after one warm-up; events/s and CPU: medians, ratios the median of each round's "
        f"own ratio. Delay: {plan.paced} events {PACE * 1e3:.0f} ms apart per round, each "
        f"stamped when the backend wrote it and compared with when the client read it"
    )
    print(
        "CPUs: each mitmdump on a core of its own, the client and the backend on the others"
        if pinned
        else "CPUs: one, shared by the client, the backend and the proxy"
    )
    print_table(
        ["path", "events/s", "vs bare", "proxy CPU µs/event", "vs bare", "delay p50 ms",
         "p99 ms", "max ms"],
        rows,
    )  # fmt: skip


def _ratio(values: list[float], baseline: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(values, baseline, strict=True))


def _best_us(action, times: int = 20_000) -> float:
    """The best of three runs of `action`, in microseconds per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(times):
            action()
        best = min(best, (time.perf_counter() - start) / times * 1e6)
    return best


def _report_tap(bare_cpu_us: float) -> None:
    """Where the recorder's time per event goes, in this process: the SSE parser alone, the
    payload redactor alone, and the whole tap (parse, redact, write) as mitmproxy calls it."""
    from wstape.recorder.addon import Recorder
    from wstape.recorder.capture import CaptureWriter, Open
    from wstape.recorder.redact_payload import redactor
    from wstape.recorder.transports.event_stream import SseParser
    from wstape.recorder.transports.sse import StreamTap

    chunk, parser, redact = EVENT.encode(), SseParser(), redactor()
    data = parser.feed(chunk)[0].data
    with tempfile.TemporaryDirectory(prefix="wstape-bench-") as tmp:
        addon = Recorder()
        addon.writer, addon.redact_payload = CaptureWriter(Path(tmp)), redact
        addon.writer.open(Open("flow", 1.0, "http://h/", "/", None, None, None, transport="sse"))
        tap = StreamTap("flow", SseParser(), addon._stream_event, addon._handle)
        parts = {
            "the SSE parser": _best_us(lambda: parser.feed(chunk)),
            "the payload redactor": _best_us(lambda: redact(data, True)),
            "the whole tap (parse, redact, write)": _best_us(lambda: tap(chunk)),
        }
        addon.writer.close_all()
    print(
        "in-process, per event of one chunk: "
        + "; ".join(f"{name} {us:.2f} µs" for name, us in parts.items())
        + f" (bare mitmdump spends {bare_cpu_us:.1f} µs of CPU per streamed event)\n"
    )
