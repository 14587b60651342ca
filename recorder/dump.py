"""mitmdump with the wstape addons built in: `python -m wstape.recorder.dump [mitmdump's options]`.

The same command line, options and behaviour as `mitmdump -s recorder/addon.py`, but the addons
sit in mitmproxy's addon chain itself rather than behind a script loader. mitmproxy walks the
whole chain twice per WebSocket message (the message hook, then an update hook), and a script
adds three layers to every walk (script, module, addon), each looked up and mostly missed. A
no-op script addon costs mitmdump 2.6-3.5% of its CPU per frame; built in, the wstape addon
costs 1.4-1.8 points less than as a script (docs/benchmarks.md). `wstape record` runs this;
the script stays for users who run mitmdump themselves.

The one module that leans on mitmproxy's internals: `tools.main.run`, `tools.dump.DumpMaster`
and `options.deferred` are the same in mitmproxy 11.0.2 (Python 3.11) and 12 (3.12 and later),
so one code path serves both; a release that changes them is followed here and nowhere else.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from mitmproxy.tools import cmdline, dump
from mitmproxy.tools import main as mitmproxy_main

from wstape.recorder.addon import default_addons


class Wstape:
    """The recorder's addons as one entry of mitmproxy's chain, its children as a script's are.
    mitmproxy walks every entry of the chain twice per WebSocket message; timed in-process, one
    entry holding the two addons dispatches a message in 0.6-0.9 µs more than the recorder
    alone did, two entries in 2.0-2.9 µs more (bare mitmdump spends 185-295 µs per frame)."""

    def __init__(self) -> None:
        self.addons = default_addons()


class RecordingDumpMaster(dump.DumpMaster):
    def __init__(self, options, **kwargs) -> None:
        super().__init__(options, **kwargs)
        self.addons.add(Wstape())

    async def run(self) -> None:
        # mitmdump keeps a --set it does not know for an addon that may register it later,
        # and so ignores a typo (wstape_flush_mss=50) without a word. Every addon is loaded
        # by now: what is still waiting is unknown. mitmproxy stops on an error logged
        # before it starts its servers.
        unknown = sorted(self.options.deferred)
        if unknown:
            logging.getLogger("wstape").error(
                f"unknown option{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
                "(mitmdump --options lists them all)"
            )
        await super().run()


def _filter_options(args) -> dict:
    # What mitmproxy.tools.main.mitmdump does with a filter expression on the command line.
    if args.filter_args:
        expression = " ".join(args.filter_args)
        return {
            "save_stream_filter": expression,
            "readfile_filter": expression,
            "dumper_filter": expression,
        }
    return {}


def main(args: Sequence[str] | None = None) -> None:
    arguments = sys.argv[1:] if args is None else args
    # mitmproxy prefixes its errors with sys.argv[0], here the path of this file.
    sys.argv[0] = "mitmdump"
    mitmproxy_main.run(
        RecordingDumpMaster,
        cmdline.mitmdump,
        arguments,
        _filter_options,
    )


if __name__ == "__main__":
    main()
