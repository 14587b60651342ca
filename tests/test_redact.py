"""Redaction rules on their own (the recorder test checks the bytes on disk)."""

from __future__ import annotations

import pytest

from wstape.recorder.redact import REDACTED, redact_header, redact_subprotocol, redact_url

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "name",
    ["Authorization", "proxy-authorization", "Cookie", "Set-Cookie", "X-Api-Key",
     "X-Auth-Token", "X-Session-Id"],
)  # fmt: skip
def test_secret_headers_are_redacted(name: str) -> None:
    assert redact_header(name, "s3cr3t") == REDACTED


def test_websocket_key_is_not_a_secret() -> None:
    assert redact_header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==") != REDACTED


@pytest.mark.parametrize(
    "value, expected",
    [
        (f"jwt.{JWT}", f"jwt.{REDACTED}"),
        (f"chat.v1, access_token.{JWT}", f"chat.v1, access_token.{REDACTED}"),
        ("bearer.abc123", f"bearer.{REDACTED}"),
        (JWT, REDACTED),
        ("chat.v1", "chat.v1"),
    ],
)
def test_credential_subprotocols_lose_the_credential(value: str, expected: str) -> None:
    assert redact_subprotocol(value) == expected


def test_query_tokens_are_redacted_and_other_params_kept() -> None:
    url = f"wss://u:pw@h:1/ws?user_id=alice&token=abc&api_key=k&x={JWT}"
    out = redact_url(url)
    for secret in ("abc", "pw", JWT):
        assert secret not in out.replace(REDACTED, "")
    assert "user_id=alice" in out and out.startswith("wss://u:")
