"""A scripted target for the replay tests: an asyncio (stdlib) HTTP/1.1 server that answers each
request with a stream from a JSON script, in chunked transfer encoding, chunk by chunk at the
script's pace, and a WebSocket at the same port (websockets' sans-I/O protocol) for captures that
mix both. It logs every request, message and stream end as a JSON line, for the tests to check;
`start_target` runs it as the tests do.

    python tests/sse_target.py --port PORT --script SCRIPT.json --log LOG.jsonl

The script: {"http": [ANSWER, ...], "ws": [ANSWER, ...]}. A request is answered by the first
ANSWER whose "match" occurs in its path or body (else the last one): {"status": 200,
"content_type": "text/event-stream", "chunks": [[delay_s, text], ...], "cut": false} streams its
chunks ("cut": the connection is dropped before the last, empty chunk), {"status": 500, "body":
text} answers at once. A WebSocket text message gets {"frames": [[delay_s, text], ...]}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from websockets.frames import Opcode
from websockets.server import ServerProtocol

REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 500: "Internal Server Error"}


class Target:
    def __init__(self, script: dict, log_path: str) -> None:
        self.script = script
        self.log_file = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 (one per process)

    def log(self, **entry: object) -> None:
        self.log_file.write(json.dumps({"t": time.time(), **entry}) + "\n")
        self.log_file.flush()

    def pick(self, kind: str, seen: str) -> dict:
        answers = self.script[kind]
        return next((a for a in answers if a.get("match", "") in seen), answers[-1])

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: one connection may carry several requests
                head = await reader.readuntil(b"\r\n\r\n")
                line, *fields = head.decode("latin-1").split("\r\n")[:-2]
                method, path, _ = line.split(" ", 2)
                headers = [tuple(part.strip() for part in f.split(":", 1)) for f in fields]
                named = {name.lower(): value for name, value in headers}
                if named.get("upgrade", "").lower() == "websocket":
                    await self.websocket(head, path, reader, writer)
                    return
                body = await reader.readexactly(int(named.get("content-length", "0")))
                text = body.decode("utf-8", "replace")
                self.log(kind="request", method=method, path=path, headers=headers, body=text)
                if not await self.answer(self.pick("http", path + text), writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def answer(self, answer: dict, writer: asyncio.StreamWriter) -> bool:
        """Writes one answer; False when the connection must not be used again."""
        status = answer.get("status", 200)
        start = f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
        if "body" in answer:
            body = answer["body"].encode()
            writer.write(f"{start}Content-Type: {answer.get('content_type', 'text/plain')}\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)  # fmt: skip
            await writer.drain()
            return True
        kind = answer.get("content_type", "text/event-stream")
        writer.write(f"{start}Content-Type: {kind}\r\nCache-Control: no-cache\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())  # fmt: skip
        await writer.drain()
        for delay, text in answer["chunks"]:
            await asyncio.sleep(delay)
            data = text.encode()
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()
        if answer.get("cut"):
            self.log(kind="stream_end", match=answer.get("match"), cut=True)
            return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        self.log(kind="stream_end", match=answer.get("match"), cut=False)
        return True

    async def websocket(self, head: bytes, path: str, reader, writer) -> None:
        protocol = ServerProtocol()
        protocol.receive_data(head)
        (request,) = protocol.events_received()
        protocol.send_response(protocol.accept(request))
        self.log(kind="websocket", path=path, headers=list(request.headers.raw_items()))
        while self.flush(protocol, writer):
            data = await reader.read(65536)
            protocol.receive_data(data) if data else protocol.receive_eof()
            for frame in protocol.events_received():
                if frame.opcode is Opcode.TEXT:
                    text = frame.data.decode()
                    self.log(kind="ws_message", path=path, text=text)
                    for delay, out in self.pick("ws", text)["frames"]:
                        await asyncio.sleep(delay)
                        protocol.send_text(out.encode())
                        self.flush(protocol, writer)
            await writer.drain()

    @staticmethod
    def flush(protocol: ServerProtocol, writer: asyncio.StreamWriter) -> bool:
        """Writes what the protocol has to send; False once it has nothing more to say."""
        for data in protocol.data_to_send():
            if data == b"":
                return False  # the protocol's end of stream
            writer.write(data)
        return True


@dataclass
class Running:
    """A target started by `start_target`: its URL and what it logged so far."""

    url: str
    log: Path

    def entries(self, kind: str) -> list[dict]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [e for e in map(json.loads, lines) if e["kind"] == kind]


def start_target(processes, folder: Path, script: dict) -> Running:
    """Starts this server with `script` on a free port as one of `processes` (conftest's
    Processes, which stops it at teardown); returns once it listens."""
    from conftest import free_port, wait_listening

    port, name = free_port(), f"target-{len(processes.started)}"
    (folder / f"{name}.json").write_text(json.dumps(script))
    log = folder / f"{name}.jsonl"
    command = [sys.executable, __file__, "--port", str(port), "--script",
               str(folder / f"{name}.json"), "--log", str(log)]  # fmt: skip
    wait_listening(port, processes.start(command, name))
    return Running(f"http://127.0.0.1:{port}", log)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--script", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    with open(args.script, encoding="utf-8") as file:
        target = Target(json.load(file), args.log)
    server = await asyncio.start_server(target.handle, "127.0.0.1", args.port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
