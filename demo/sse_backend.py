"""A scripted HTTP/1.1 backend that streams server-sent events (or NDJSON) with chunked transfer
encoding, for recording, replaying and benchmarking HTTP streams: each request it receives gets
the script's next response, chunk by chunk, at the script's pace.

    python -m wstape.demo.sse_backend --port 8000 --script streams.json [--requests FILE]

The script is a JSON object:

    {"responses": [RESPONSE, ...], "repeat": false}

and each RESPONSE is either a stream,

    {"chunks": [[DELAY, TEXT], ...], "end": "complete", "times": 1, "encoding": null,
     "status": 200, "content_type": "text/event-stream", "headers": [[NAME, VALUE], ...]}

or a plain JSON answer, sent whole with a Content-Length,

    {"json": ANY, "status": 200, "headers": [[NAME, VALUE], ...]}

Only `chunks` (or `json`) is required. A stream's chunks are written one HTTP chunk each, TEXT
as UTF-8, after waiting DELAY seconds (counted from the previous chunk, or from the response
headers); an empty TEXT only waits. `{{sent}}` in a TEXT becomes the epoch time (time.time())
at which that chunk is written, so a client can measure each event's delay. `end` says how the
stream ends: "complete" (the last, empty chunk; the connection stays open for the next request),
"cut" (the socket is closed mid-body, as a crashed server does), "reset" (a TCP reset mid-body)
or "hang" (nothing more is sent until the client goes away). `times` sends the chunk list that
many times over (a long stream from a short script); `encoding` "gzip" compresses the body
(Content-Encoding: gzip), each chunk flushed on its own so it can be read as it arrives.

Requests take the responses in the order they arrive; with "repeat" the list starts over once
used up, without it a request beyond the list gets a 503. `--requests FILE` appends one JSON line
per request received: its method, path, headers and body (as text). `stream()` and `answer()`
build RESPONSE objects for tests and benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import struct
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ENDS = ("complete", "cut", "reset", "hang")
SENT = "{{sent}}"


def stream(chunks: Sequence[tuple[float, str]], end: str = "complete", *, times: int = 1,
           encoding: str | None = None, status: int = 200,
           content_type: str = "text/event-stream", headers: Sequence[tuple[str, str]] = ()
           ) -> dict:  # fmt: skip
    """A streamed RESPONSE of the script."""
    return {"chunks": [[delay, text] for delay, text in chunks], "end": end, "times": times,
            "encoding": encoding, "status": status, "content_type": content_type,
            "headers": [list(h) for h in headers]}  # fmt: skip


def answer(body: Any, *, status: int = 200, headers: Sequence[tuple[str, str]] = ()) -> dict:
    """A plain JSON RESPONSE of the script."""
    return {"json": body, "status": status, "headers": [list(h) for h in headers]}


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...]
    chunks: tuple[tuple[float, str], ...] = ()
    end: str = "complete"
    times: int = 1
    gzip: bool = False
    body: bytes | None = None  # a plain answer's whole body; None for a stream


class ScriptError(ValueError):
    """A script that cannot be served; the message says what is wrong."""


def parse_response(item: Any, n: int) -> Response:
    where = f"responses[{n}]"
    if not isinstance(item, dict) or ("chunks" in item) == ("json" in item):
        raise ScriptError(f"{where}: an object with either 'chunks' or 'json'")
    status, headers = item.get("status", 200), item.get("headers", [])
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ScriptError(f"{where}: status must be an HTTP status code")
    if not all(isinstance(h, list) and len(h) == 2 and all(isinstance(v, str) for v in h)
               for h in headers):  # fmt: skip
        raise ScriptError(f"{where}: headers must be [name, value] pairs of strings")
    pairs = tuple((name, value) for name, value in headers)
    if "json" in item:
        body = json.dumps(item["json"]).encode()
        return Response(status, (("Content-Type", "application/json"), *pairs), body=body)
    chunks, end = item["chunks"], item.get("end", "complete")
    if end not in ENDS:
        raise ScriptError(f"{where}: end must be one of {', '.join(ENDS)}")
    if not all(isinstance(c, list) and len(c) == 2 and isinstance(c[0], int | float)
               and c[0] >= 0 and isinstance(c[1], str) for c in chunks):  # fmt: skip
        raise ScriptError(f"{where}: chunks must be [delay seconds, text] pairs")
    times, encoding = item.get("times", 1), item.get("encoding")
    if not isinstance(times, int) or times < 1:
        raise ScriptError(f"{where}: times must be a positive integer")
    if encoding not in (None, "gzip"):
        raise ScriptError(f'{where}: encoding must be null or "gzip"')
    content_type = item.get("content_type", "text/event-stream")
    head = (("Content-Type", content_type), ("Cache-Control", "no-cache"), *pairs)
    if encoding:
        head += (("Content-Encoding", encoding),)
    chunks = tuple((float(d), t) for d, t in chunks)
    return Response(status, head, chunks, end, times, encoding == "gzip")


def load_script(path: Path) -> tuple[list[Response], bool]:
    """The responses of a script file and whether they repeat; ScriptError naming the file."""
    try:
        script = json.loads(path.read_text())
        if not isinstance(script, dict) or not isinstance(script.get("responses"), list):
            raise ScriptError('a JSON object with a "responses" list')
        responses = [parse_response(item, n) for n, item in enumerate(script["responses"])]
    except (OSError, ValueError) as exc:
        raise ScriptError(f"{path}: {getattr(exc, 'strerror', None) or exc}") from None
    return responses, bool(script.get("repeat", False))


class Backend:
    """Serves the script's responses to the requests as they arrive, on any number of
    keep-alive connections."""

    def __init__(self, responses: list[Response], repeat: bool, log: IO[str] | None) -> None:
        self.responses, self.repeat, self.log = responses, repeat, log
        self.served = 0

    def next_response(self) -> Response:
        n, self.served = self.served, self.served + 1
        if self.repeat and self.responses:
            n %= len(self.responses)
        if n < len(self.responses):
            return self.responses[n]
        body = json.dumps({"error": "the script has no more responses"}).encode()
        return Response(503, (("Content-Type", "application/json"),), body=body)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """One request and its response; False when the connection is done."""
        head = await reader.readuntil(b"\r\n\r\n")
        method, path, headers = parse_head(head)
        body = await read_body(reader, headers)
        if self.log is not None:
            text = body.decode("utf-8", "replace")
            request = {"method": method, "path": path, "headers": headers, "body": text}
            self.log.write(json.dumps(request) + "\n")
            self.log.flush()
        response = self.next_response()
        if response.body is not None:
            writer.write(status_line(response, ("Content-Length", str(len(response.body))))
                         + response.body)  # fmt: skip
            await writer.drain()
            return True
        return await send_stream(response, reader, writer)


def status_line(response: Response, *extra: tuple[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in (*response.headers, *extra)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error",
           503: "Service Unavailable"}  # fmt: skip


async def send_stream(
    response: Response, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bool:
    writer.write(status_line(response, ("Transfer-Encoding", "chunked")))
    await writer.drain()
    gzip = zlib.compressobj(wbits=31) if response.gzip else None
    for _ in range(response.times):
        for delay, text in response.chunks:
            if delay:
                await asyncio.sleep(delay)
            data = text.replace(SENT, repr(time.time())).encode()
            if data and gzip:
                data = gzip.compress(data) + gzip.flush(zlib.Z_SYNC_FLUSH)
            await _send_chunk(writer, data)
    if gzip and response.end == "complete":
        await _send_chunk(writer, gzip.flush())
    return await ENDINGS[response.end](reader, writer)


async def _send_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    if data:  # an empty chunk would end the body
        writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        await writer.drain()


async def _complete(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return True


async def _cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    return False  # handle() closes the socket without the last chunk


async def _reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    if sock is not None:  # linger 0: close() sends a TCP reset, not a FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    return False


async def _hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    while await reader.read(65536):
        pass
    return False


ENDINGS = {"complete": _complete, "cut": _cut, "reset": _reset, "hang": _hang}


def parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, path, _ = request_line.split(" ", 2)
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return method, path, headers


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += await reader.readexactly(size + 2)
            del body[-2:]
        await reader.readuntil(b"\r\n")  # the empty trailer section
        return bytes(body)
    return await reader.readexactly(int(headers.get("content-length", "0")))


async def serve(backend: Backend, host: str, port: int) -> None:
    server = await asyncio.start_server(backend.handle, host, port)
    print(f"sse backend listening on http://{host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wstape.demo.sse_backend",
        description="Serve scripted HTTP streams (server-sent events, NDJSON) to each request.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--script", type=Path, required=True, help="The responses (JSON).")
    parser.add_argument("--requests", type=Path, help="Append each request as a JSON line here.")
    args = parser.parse_args(argv)
    try:
        responses, repeat = load_script(args.script)
    except ScriptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log = open(args.requests, "a") if args.requests else None  # noqa: SIM115
    with contextlib.suppress(KeyboardInterrupt), log or contextlib.nullcontext():
        asyncio.run(serve(Backend(responses, repeat, log), args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
