"""Secrets in chat payloads: each kind the redactor knows is replaced by a marker that keeps the
JSON valid and names the kind, the rest of the frame is kept, and a frame with no secret comes
back untouched. The end-to-end test checks the bytes on disk and every output through a real
recorder and backend."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from wsclient import converse, has_event

from wstape.recorder.capture import Message, read_capture
from wstape.recorder.redact_payload import PayloadRedactor, luhn, redactor

# Test values made up for this file, in each format's shape; none is a real credential.
SECRETS = {
    "openai_key": "sk-proj-T3stKeyNotReal0123456789abcdefXYZ",
    "anthropic_key": "sk-ant-api03-T3stKeyNotReal0123456789abcdef",
    "aws_key": "AKIAT3STKEYN0TREAL12",
    "github_token": "ghp_T3stTokenNotReal0123456789abcdefABCD",
    "slack_token": "xoxb-123456789012-T3stNotReal",
    "google_key": "AIzaT3stKeyNotReal0123456789abcdefghijk",
    "stripe_key": "sk_live_T3stKeyNotReal01234567",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0LXVzZXIifQ.c2lnbmF0dXJlLW5vdC1yZWFs",
    "bearer_token": "T3stBearer0123456789NotReal",
    "card_number": "4111 1111 1111 1111",
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAT3stNotReal\n"
    "-----END RSA PRIVATE KEY-----",
}
FIELDS = {"password": "hunter2-not-real", "api_key": "key-not-real-42", "client_secret": "cs-9"}


def chat_message(content: str, **fields: str) -> dict:
    return {"type": "user_message", "payload": {"content": content, "scenario": "good", **fields}}


def frame_with(kind: str) -> bytes:
    secret = SECRETS[kind]
    prefix = "Bearer " if kind == "bearer_token" else ""
    return json.dumps(chat_message(f"here it is: {prefix}{secret} thanks")).encode()


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_each_secret_shape_is_replaced_by_a_marker_naming_it(kind: str) -> None:
    out = redactor()(frame_with(kind), True)
    assert SECRETS[kind].encode() not in out
    content = json.loads(out)["payload"]["content"]
    assert content.startswith("here it is: ") and content.endswith(" thanks")
    assert f"[REDACTED:{kind}]" in content


def test_secret_named_fields_are_redacted_at_any_depth_and_the_rest_kept() -> None:
    frame = {"type": "tool_executing", "payload": {"run_id": "run-7", "password": "pw1",
             "args": {"db": {"client_secret": "s"}, "items": [{"refresh_token": "t"}]},
             "usage": {"max_tokens": 512, "input_tokens": 12}, "content": "keep me"}}  # fmt: skip
    out = json.loads(redactor()(json.dumps(frame).encode(), True))
    payload = out["payload"]
    assert payload["password"] == "[REDACTED:field]"
    assert payload["args"]["db"]["client_secret"] == "[REDACTED:field]"
    assert payload["args"]["items"][0]["refresh_token"] == "[REDACTED:field]"
    assert payload["usage"] == {"max_tokens": 512, "input_tokens": 12}
    assert (out["type"], payload["run_id"], payload["content"]) == ("tool_executing", "run-7",
                                                                      "keep me")  # fmt: skip


def test_a_frame_without_secrets_is_returned_as_it_came() -> None:
    frame = json.dumps(chat_message("what is the weather in Paris?", run_id="r-12345")).encode()
    assert redactor()(frame, True) is frame


@pytest.mark.parametrize(
    "text",
    ["the bearer instrument is signed", "order 4111 1111 1111 1112 is not a card",
     "ts 1733212345678 and 1733212345.678901", "max_tokens and token_count are not secrets"],
)  # fmt: skip
def test_lookalikes_are_not_redacted(text: str) -> None:
    frame = json.dumps({"type": "partial_result", "payload": {"content": text}}).encode()
    assert json.loads(redactor()(frame, True))["payload"]["content"] == text


def test_text_that_is_not_json_is_redacted_in_place() -> None:
    frame = f"plain text with {SECRETS['openai_key']} inside".encode()
    assert redactor()(frame, True) == b"plain text with [REDACTED:openai_key] inside"


def test_binary_frames_are_kept_as_sent() -> None:
    frame = SECRETS["aws_key"].encode()
    assert redactor()(frame, False) == frame


def test_a_users_own_fields_and_patterns_are_redacted_too() -> None:
    redact = redactor(fields=["ssn"], patterns=[r"EMP-\d{6}"])
    frame = json.dumps({"type": "chat", "ssn": "123-45-6789", "content": "id EMP-123456"})
    out = json.loads(redact(frame.encode(), True))
    assert out["ssn"] == "[REDACTED:field]"
    assert out["content"] == "id [REDACTED:pattern0]"
    assert "ssn" in redact.rules()["payload_fields"]


def test_luhn() -> None:
    assert luhn("4111111111111111") and luhn("378282246310005")
    assert not luhn("4111111111111112")


def test_rules_name_every_shape() -> None:
    shapes = PayloadRedactor().rules()["payload_shapes"]
    assert set(SECRETS) <= set(shapes)


def wstape(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wstape", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_a_chat_full_of_secrets_leaves_none_on_disk_or_in_any_output(
    start_backend, start_recorder, tmp_path: Path
) -> None:
    backend = start_backend("--think-delay", "0.01", "--tool-delay", "0.05")
    rec = start_recorder(f"http://127.0.0.1:{backend.port}")
    typed = " ".join(("Bearer " if k == "bearer_token" else "") + v for k, v in SECRETS.items())

    async def chats() -> None:
        secret = chat_message(f"please look this up: {typed}", **FIELDS)
        await converse(rec.url(path="/ws?user_id=alice"), [secret],
                       done_when=has_event("agent_completed"))  # fmt: skip
        clean = chat_message("please look this up")
        await converse(rec.url(path="/ws?user_id=bob"), [clean],
                       done_when=has_event("agent_completed"))  # fmt: skip

    asyncio.run(chats())
    rec.stop()
    outputs = {"json": tmp_path / "r.json", "html": tmp_path / "r.html"}
    analyzed = wstape("analyze", str(rec.out), "--json", str(outputs["json"]),
                      "--html", str(outputs["html"]))  # fmt: skip
    exported = wstape("export", str(rec.out))
    events = wstape("export", str(rec.out), "--events")
    texts = {
        "analyze": analyzed.stdout, "export": exported.stdout, "export --events": events.stdout,
        **{name: path.read_text() for name, path in outputs.items()},
        **{f.name: f.read_bytes().decode("utf-8", "replace") for f in rec.out.iterdir()},
    }  # fmt: skip
    for secret in (*SECRETS.values(), *FIELDS.values()):
        # A JSON writer may escape the private key's newlines: look for its unique line.
        needle = secret.splitlines()[1] if "\n" in secret else secret
        for where, text in texts.items():
            assert needle not in text, f"{needle!r} leaked into {where}"
    # The chat itself and its verdict are as they would be without the secrets.
    report = json.loads(outputs["json"].read_text())
    verdicts = {run["user_id"]: (run["status"], run["failures"]) for run in report["runs"]}
    assert verdicts["alice"] == verdicts["bob"] == ("passed", [])
    sent = [json.loads(r.payload) for r in read_capture(rec.out)
            if isinstance(r, Message) and r.from_client]  # fmt: skip
    alice = next(m for m in sent if m["payload"].get("password"))
    assert alice["payload"]["content"].startswith("please look this up: [REDACTED:")
    assert alice["payload"]["password"] == "[REDACTED:field]"
    assert re.search(r"\[REDACTED:card_number\]", alice["payload"]["content"])


def test_payload_redaction_is_off_with_no_redact(start_backend, start_recorder) -> None:
    backend = start_backend("--think-delay", "0.01", "--tool-delay", "0.05")
    rec = start_recorder(f"http://127.0.0.1:{backend.port}", redact=False)
    message = chat_message(f"key {SECRETS['aws_key']}")
    asyncio.run(converse(rec.url(path="/ws?user_id=a"), [message],
                         done_when=has_event("agent_completed")))  # fmt: skip
    rec.stop()
    assert any(SECRETS["aws_key"].encode() in f.read_bytes() for f in rec.out.iterdir())
