"""HTTP streams through the recorder when it matters most: events reach the client as they are
sent (not at the end of the run), memory stays flat on a long stream, a `kill -9` loses at most
a flush, and a capture that cannot be written or a stream that cannot be parsed never costs the
client a byte."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from sse_streams import Received, fetch, recorded_streams, sse, start_sse_backend
from test_memory import rss_mib

from wstape.demo.loopback import stop
from wstape.demo.sse_backend import stream

GAP = 0.4  # seconds between two events of the delay test


def delays(got: Received) -> list[tuple[float, float]]:
    """(sent, arrived) for each event of a stream whose events carry their send time."""
    out = []
    for arrived, chunk in got.chunks:
        for sent in re.findall(rb'"sent": ([0-9.]+)', chunk):
            out.append((float(sent), arrived))
    return out


def test_each_event_reaches_the_client_as_it_is_sent_not_at_the_end(processes, tmp_path):
    """Streams stay streams: through the recorder, an event sent GAP seconds before the next
    arrives long before that next one is sent, as over a direct connection. (The delay itself,
    in milliseconds, is measured by `python -m bench sse`.)"""
    events = [(GAP, sse("delta", f'{{"n": {n}, "sent": {{{{sent}}}}}}')) for n in range(6)]
    backend = start_sse_backend(processes, [stream(events)], repeat=True)
    proc, port = processes.record(backend.url, tmp_path / "capture")
    direct = delays(fetch(f"{backend.url}/run", {"q": "direct"}))
    recorded = delays(fetch(f"http://127.0.0.1:{port}/run", {"q": "through wstape"}))
    assert stop(proc) == 0

    assert len(direct) == len(recorded) == len(events)
    for through in (direct, recorded):
        lags = [arrived - sent for sent, arrived in through]
        assert max(lags) < GAP / 2, f"events arrived {lags} s after they were sent"
    [stream_] = recorded_streams(tmp_path / "capture")
    assert len(stream_.events) == len(events)


def test_memory_stays_flat_over_a_long_stream(processes, start_recorder):
    event = sse("delta", json.dumps({"type": "delta", "text": "x" * 462}))  # 512 bytes
    chunk = event * 128  # 64 KiB a chunk
    times = 1024  # 64 MiB in all: a buffered body, or kept events, would show
    total = len(chunk.encode()) * times
    backend = start_sse_backend(processes, [stream([(0, chunk)], times=times)])
    rec = start_recorder(backend.url)
    rss: dict[int, float] = {}
    checkpoints = {total // 8, total // 2, total}
    size = 0

    def measure(got: Received) -> None:
        nonlocal size
        size += len(got.chunks[-1][1])
        got.chunks.clear()  # the client keeps nothing either
        for mark in sorted(checkpoints):
            if size >= mark:
                rss[mark] = rss_mib(rec.recorder.proc.pid)
                checkpoints.discard(mark)

    got = fetch(rec.url("http", "/long"), {}, on_chunk=measure)
    assert rec.stop() == 0

    assert got.error is None and size == total
    growth = rss[total] - rss[total // 8]
    assert growth < 24, f"mitmdump grew {growth:.1f} MiB over {total >> 20} MiB streamed ({rss})"
    print(f"mitmdump RSS over a {total >> 20} MiB stream: {rss}")
    [recorded] = recorded_streams(rec.out)
    assert len(recorded.events) == 128 * times


def test_sigkill_mid_stream_loses_at_most_the_last_flush(processes, start_recorder):
    events = [(0.01, sse(None, json.dumps({"n": n}))) for n in range(30)]
    backend = start_sse_backend(processes, [stream(events, "hang")])
    rec = start_recorder(backend.url, flush_ms=50)

    def kill_after_the_last(got: Received) -> None:
        if b'{"n": 29}' in got.body and rec.recorder.proc.poll() is None:
            time.sleep(0.5)  # ten flush intervals
            rec.recorder.kill()

    got = fetch(rec.url("http", "/s"), {}, on_chunk=kill_after_the_last)
    assert got.error is not None  # the recorder is gone mid-stream
    warnings: list[str] = []
    [recorded] = recorded_streams(rec.out, warn=warnings.append)
    assert [json.loads(p)["n"] for _, p in recorded.events] == list(range(30))
    assert recorded.close is None  # killed: no close was written


def test_a_deleted_capture_stops_recording_and_the_stream_goes_on(processes, start_recorder):
    events = [(0.3 if n == 5 else 0.01, sse(None, json.dumps({"n": n}))) for n in range(10)]
    backend = start_sse_backend(processes, [stream(events)])
    rec = start_recorder(backend.url, flush_ms=20)

    def delete_after_five(got: Received) -> None:
        if b'{"n": 4}' in got.body:
            for segment in rec.out.glob("*.wstape"):
                segment.unlink()

    got = fetch(rec.url("http", "/s"), {}, on_chunk=delete_after_five)
    rec.stop()

    assert got.error is None and got.body == "".join(text for _, text in events).encode()
    errors = [line for line in rec.lines if "cannot write the capture" in line]
    assert len(errors) == 1 and "recording stopped, traffic continues" in errors[0]


def test_a_stream_that_cannot_be_parsed_passes_byte_for_byte(processes, tmp_path):
    """A body that claims gzip but is not: the tap's decoder fails, says so once, and stops
    parsing; the client still gets every byte, and the next stream is recorded as usual."""
    texts = [sse(None, json.dumps({"n": n})) for n in range(5)]
    backend = start_sse_backend(processes, [
        stream([(0.01, t) for t in texts], headers=[("Content-Encoding", "gzip")]),
        stream([(0.01, t) for t in texts]),
    ])  # fmt: skip
    proc, port = processes.record(backend.url, tmp_path / "capture")
    bad = fetch(f"http://127.0.0.1:{port}/bad", {})
    good = fetch(f"http://127.0.0.1:{port}/good", {})
    assert stop(proc) == 0

    assert bad.body == good.body == "".join(texts).encode()
    assert bad.error is None
    log = Path(proc.log_path).read_text()
    assert log.count("recording an event failed; traffic continues") == 1
    first, second = recorded_streams(tmp_path / "capture")
    assert (first.events, first.close.end) == ([], "complete")
    assert len(second.events) == len(texts)


@pytest.mark.parametrize("encoding", ["compress", "x-made-up"])
def test_a_stream_in_an_unknown_encoding_is_streamed_not_recorded(processes, tmp_path, encoding):
    texts = [sse(None, str(n)) for n in range(3)]
    backend = start_sse_backend(
        processes, [stream([(0.01, t) for t in texts], headers=[("Content-Encoding", encoding)])]
    )
    proc, port = processes.record(backend.url, tmp_path / "capture")
    got = fetch(f"http://127.0.0.1:{port}/s", {})
    assert stop(proc) == 0

    assert got.body == "".join(texts).encode()
    assert recorded_streams(tmp_path / "capture") == []
    assert f"cannot read a '{encoding}' encoded stream" in Path(proc.log_path).read_text()
