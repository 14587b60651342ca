"""The part of wstape that runs inside mitmproxy: the addons (addon.py), one module per transport
(transports/), the capture format that everything offline reads (capture.py), redaction, and the
launcher that runs mitmdump with the addons (launch.py, dump.py)."""

__version__ = "0.1.0"
