"""Redaction of secrets in message payloads before they reach a capture: JSON fields whose names
say secret, at any depth, and secrets recognised by their shape anywhere in text (keys, tokens,
private keys, card numbers that pass the Luhn check). Pure; the addon applies it to each frame.

A frame with nothing that could be a secret costs one pass of cheap substring tests; only a
frame that trips one is parsed. What is redacted becomes a marker string that keeps the JSON
valid and names the kind ("[REDACTED:openai_key]"); the rest of the frame is kept as it was.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import ahocorasick

MARKER = "[REDACTED:{}]"

# Field names that say their value is a secret, matched on the whole name or on its last part
# after "_", "-" or "." ("user_password", "x-api-key"), so "max_tokens" and "token_count" pass.
SECRET_NAMES = (
    "password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "api-key",
    "access_token", "refresh_token", "id_token", "auth_token", "authorization",
    "client_secret", "private_key", "secret_key", "session_id", "session_token", "cookie",
    "credential", "credentials",
)  # fmt: skip

# Secrets by their shape, most specific first (sk-ant- before sk-); each a kind and a pattern.
SHAPES: tuple[tuple[str, str], ...] = (
    ("private_key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    # A bearer token is long and random: 16 characters at least, one a digit, so English
    # ("the bearer instrument") is left alone.
    ("bearer_token", r"(?<=[Bb]earer )(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{16,}"),
    ("anthropic_key", r"\bsk-ant-[A-Za-z0-9_-]{16,}"),
    ("stripe_key", r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("openai_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ("aws_key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    ("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("google_key", r"\bAIza[0-9A-Za-z_-]{35}"),
)
# Card numbers: 13 to 19 digits, optionally grouped by spaces or dashes, and Luhn-valid.
CARD = re.compile(r"(?<![\d.])\d(?:[ -]?\d){12,18}(?![\d.])")

# What a frame must contain, lowercased, before it is worth parsing: any of these substrings.
_TRIGGERS = (
    b"passw", b"pwd", b"secret", b"token", b"api_key", b"apikey", b"api-key", b"private_key",
    b"authorization", b"cookie", b"credential", b"session", b"-----begin", b"eyj", b"bearer ",
    b"sk-", b"sk_", b"rk_", b"akia", b"asia", b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_",
    b"github_pat_", b"xox", b"aiza",
)  # fmt: skip
# Digits as "0", spaces and dashes dropped: a card number, grouped or not, becomes 13+ zeros.
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= byte <= 0x39 else byte for byte in range(256))
_CARD_RUN = b"0" * 13


def luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


@dataclass(frozen=True)
class PayloadRedactor:
    """Redacts one payload at a time; `extra_fields` and `extra_patterns` add to the defaults
    (a pattern given as a string is a regular expression, its matches marked `pattern`)."""

    extra_fields: tuple[str, ...] = ()
    extra_patterns: tuple[str, ...] = ()
    _names: re.Pattern = field(init=False, repr=False)
    _shapes: re.Pattern = field(init=False, repr=False)
    _kinds: dict[str, str] = field(init=False, repr=False)
    _triggers: ahocorasick.Automaton = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = (*SECRET_NAMES, *(n.lower() for n in self.extra_fields))
        alternatives = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))
        set_ = object.__setattr__
        set_(self, "_names", re.compile(rf"(?:^|.*[_.-])(?:{alternatives})$", re.IGNORECASE))
        shapes = [*SHAPES, *((f"pattern{i}", p) for i, p in enumerate(self.extra_patterns))]
        set_(self, "_kinds", {f"k{i}": kind for i, (kind, _) in enumerate(shapes)})
        combined = "|".join(f"(?P<k{i}>{pattern})" for i, (_, pattern) in enumerate(shapes))
        set_(self, "_shapes", re.compile(combined, re.DOTALL))
        # One Aho-Corasick pass finds any trigger: 28 `in` tests cost ten times as much a frame.
        triggers = ahocorasick.Automaton()
        for word in (*(t.decode() for t in _TRIGGERS), *(n.lower() for n in self.extra_fields)):
            triggers.add_word(word, word)
        triggers.make_automaton()
        set_(self, "_triggers", triggers)

    def rules(self) -> dict:
        """What the capture header records of the redaction in force."""
        return {
            "payload_fields": sorted({*SECRET_NAMES, *self.extra_fields}),
            "payload_shapes": [kind for kind, _ in SHAPES] + ["card_number"],
            "payload_patterns": list(self.extra_patterns),
        }

    def __call__(self, payload: bytes, is_text: bool) -> bytes:
        """The payload with its secrets replaced; the same object when it holds none."""
        if not is_text or not self._may_hold_secret(payload):
            return payload
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            return payload  # not text a person typed; binary frames are kept as sent too
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            redacted = self.redact_text(text)
            return payload if redacted == text else redacted.encode("utf-8")
        changed, document = self._walk(document)
        if not changed:
            return payload
        return json.dumps(document, ensure_ascii=False, separators=_separators(text)).encode()

    def _may_hold_secret(self, payload: bytes) -> bool:
        for _ in self._triggers.iter(payload.lower().decode("latin-1")):
            return True
        return _CARD_RUN in payload.translate(_DIGITS_AS_ZERO, b" -")

    def redact_text(self, text: str) -> str:
        """Secrets by their shape, anywhere in a string."""
        text = self._shapes.sub(self._mark, text)
        return CARD.sub(_card, text) if any(c.isdigit() for c in text) else text

    def _mark(self, match: re.Match) -> str:
        return MARKER.format(self._kinds[match.lastgroup or ""])

    def _walk(self, value: object) -> tuple[bool, object]:
        if isinstance(value, str):
            redacted = self.redact_text(value)
            return redacted != value, redacted
        if isinstance(value, dict):
            return self._walk_items(value)
        if isinstance(value, list):
            results = [self._walk(item) for item in value]
            if any(changed for changed, _ in results):
                return True, [item for _, item in results]
        return False, value

    def _walk_items(self, document: dict) -> tuple[bool, object]:
        changed, out = False, {}
        for key, value in document.items():
            if self._names.match(key) and value not in (None, "", True, False):
                out[key] = MARKER.format("field")
                changed = True
                continue
            hit, out[key] = self._walk(value)
            changed = changed or hit
        return changed, (out if changed else document)


def _card(match: re.Match) -> str:
    digits = re.sub(r"[ -]", "", match.group())
    return MARKER.format("card_number") if luhn(digits) else match.group()


def _separators(text: str) -> tuple[str, str]:
    """The separators the frame was written with, so a redacted frame reads like the original."""
    return ("," if '", "' not in text and "}, " not in text else ", ",
            ":" if '": ' not in text else ": ")  # fmt: skip


def redactor(fields: Iterable[str] = (), patterns: Iterable[str] = ()) -> PayloadRedactor:
    """The default redactor, with the user's own field names and patterns added; a bad pattern
    raises re.error."""
    patterns = tuple(patterns)
    for pattern in patterns:
        re.compile(pattern)
    return PayloadRedactor(tuple(fields), patterns)
