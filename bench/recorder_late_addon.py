"""A `-s` script for bench/recorder.py: once mitmdump runs, it adds an addon to mitmproxy's chain
that counts the WebSocket messages it is given, and writes the count at the end to the file named
by $WSTAPE_BENCH_LATE_COUNT. Under `wstape record`'s dispatch, an addon added at run time must
still get every message."""

import os

from mitmproxy import ctx


class LateCounter:
    def __init__(self) -> None:
        self.messages = 0

    def websocket_message(self, flow) -> None:
        self.messages += 1

    def done(self) -> None:
        with open(os.environ["WSTAPE_BENCH_LATE_COUNT"], "w") as out:
            out.write(str(self.messages))


class AddsCounter:
    def running(self) -> None:
        ctx.master.addons.add(LateCounter())


addons = [AddsCounter()]
