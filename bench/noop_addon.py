"""A mitmproxy addon that hooks every WebSocket message and does nothing: what any addon
costs in mitmproxy's own hook dispatch, before it does any work (bench/recorder.py)."""


class NoOp:
    def websocket_message(self, flow) -> None:
        pass


addons = [NoOp()]
