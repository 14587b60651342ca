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


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("X-Custom", "Bearer opaque-0123", f"Bearer {REDACTED}"),
        ("X-Forwarded-Credentials", "Basic dXNlcjpwYXNz", REDACTED),  # its name says secret
        ("X-Upstream", "basic dXNlcjpwYXNz", f"basic {REDACTED}"),
        ("X-Note", "key sk-proj-T3stKeyNotReal0123456789ab", f"key {REDACTED}"),
        ("User-Agent", "Mozilla/5.0 (basic client)", "Mozilla/5.0 (basic client)"),
    ],
)
def test_credentials_in_headers_of_any_name_are_redacted(name, value, expected) -> None:
    assert redact_header(name, value) == expected


@pytest.mark.parametrize("param", ["code", "ticket", "state", "session_id", "sid"])
def test_oauth_and_session_parameters_are_redacted_in_urls_and_paths(param: str) -> None:
    for url in (
        f"wss://h/cb?{param}=SECRET-1&user_id=alice",
        f"/cb?{param}=SECRET-1&user_id=alice",
    ):
        redacted = redact_url(url)
        assert "SECRET-1" not in redacted and "user_id=alice" in redacted


def test_a_bearer_token_inside_any_subprotocol_is_redacted() -> None:
    k8s = "base64url.bearer.authorization.k8s.io.dG9rZW4tc2VjcmV0"
    assert redact_subprotocol(f"{k8s}, v4.channel.k8s.io") == (
        f"base64url.bearer.authorization.k8s.io.{REDACTED}, v4.channel.k8s.io"
    )
