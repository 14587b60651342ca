"""The part of wstape that runs inside mitmproxy: the addon, the capture writer, redaction."""

__version__ = "0.1.0"
