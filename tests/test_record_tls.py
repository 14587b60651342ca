"""wss:// end to end: a backend with a self-signed certificate made by the test, the
recorder trusting it, and clients trusting the recorder's certificate."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from certs import self_signed
from wsclient import converse, has_event

from wstape.recorder.capture import Message, Open, read_capture

CHAT = [{"type": "user_message", "payload": {"content": "over TLS"}}]


def client_context(cafile: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cafile))


@pytest.mark.parametrize("recorder_cert", ["mitmproxy-ca", "given-cert"])
def test_wss_chat_is_recorded_end_to_end(tmp_path, start_backend, start_recorder, recorder_cert):
    backend_cert = self_signed(tmp_path / "backend", "backend")
    tls = ("--certfile", str(backend_cert.cert), "--keyfile", str(backend_cert.key))
    backend = start_backend(*tls, "--think-delay", "0.01", "--tool-delay", "0.02")
    upstream = f"https://127.0.0.1:{backend.port}"
    if recorder_cert == "given-cert":
        served = self_signed(tmp_path / "proxy", "proxy")
        rec = start_recorder(upstream, upstream_ca=backend_cert.cert, certs=served.combined)
        trust = served.cert
    else:
        confdir = tmp_path / "mitmproxy"
        rec = start_recorder(upstream, upstream_ca=backend_cert.cert, confdir=confdir)
        trust = confdir / "mitmproxy-ca-cert.pem"
    chat = converse(
        rec.url("wss", "/ws?user_id=tls"),
        CHAT,
        ssl=client_context(trust),
        done_when=has_event("agent_completed"),
    )
    seen = asyncio.run(chat)
    assert rec.stop() == 0
    records = list(read_capture(rec.out))
    opened = [r for r in records if isinstance(r, Open)]
    assert len(opened) == 1 and opened[0].url.startswith("wss://127.0.0.1:")
    server_frames = [r.payload for r in records if isinstance(r, Message) and not r.from_client]
    assert server_frames == [payload for _, payload in seen.received]
    assert b"agent_completed" in server_frames[-1] or any(
        b"agent_completed" in f for f in server_frames
    )


def test_untrusted_backend_certificate_is_refused_not_recorded(
    tmp_path, start_backend, start_recorder
):
    backend_cert = self_signed(tmp_path / "backend", "backend")
    backend = start_backend(
        "--certfile", str(backend_cert.cert), "--keyfile", str(backend_cert.key)
    )
    rec = start_recorder(f"https://127.0.0.1:{backend.port}")  # no --upstream-ca
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(converse(rec.url("ws", "/ws?user_id=x"), []))
    assert refused.value.response.status_code == 502
    rec.stop()
    assert not [r for r in read_capture(rec.out) if isinstance(r, Open)]
