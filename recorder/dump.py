"""mitmdump with the wstape addons built in, and hooks sent only to the addons that implement
them: `python -m wstape.recorder.dump [mitmdump's options]`, which `wstape record` runs.

The same command line, options and behaviour as `mitmdump -s recorder/addon.py`, minus two costs
of mitmproxy's dispatch: a script's three layers (script, module, addon) in every walk of the
chain, and the walk itself. mitmproxy calls every addon of its chain, about 40, each behind a
context manager and a coroutine, twice per WebSocket message (the message hook, then `update`),
to reach the two that implement `websocket_message`: 42-50 % of mitmdump's time under WebSocket
load. `HookDispatch` calls only those two (docs/benchmarks.md has the figures). The script stays
for users who run mitmdump themselves.

The one module that leans on mitmproxy's internals: `AddonManager` (its chain, `traverse`,
`invoke_addon`, `cut_traceback`), `tools.main.run`, `tools.dump.DumpMaster` and
`options.deferred` are the same in mitmproxy 11.0.2 (Python 3.11) and 12 (3.12 and later), so
one code path serves both; a release that changes them is followed here and nowhere else.
"""

from __future__ import annotations

import inspect
import logging
import sys
import types
from collections.abc import Callable, Sequence

from mitmproxy import addonmanager, exceptions, flow, hooks
from mitmproxy.tools import cmdline, dump
from mitmproxy.tools import main as mitmproxy_main

from wstape.recorder.addon import default_addons

# One entry per top-level addon whose subtree implements a hook: the addon, and its subtree's
# hook functions in mitmproxy's traversal order; None where mitmproxy's own invoke_addon must
# run instead (a hook attribute that is not callable, which mitmproxy reports in its words).
Entry = tuple[object, tuple[Callable, ...] | None]


class HookDispatch(addonmanager.AddonManager):
    """mitmproxy's AddonManager, except that the proxy's hooks (`handle_lifecycle`: every
    connection, flow and message event) go only to the addons that implement them.

    Per hook, the (top-level addon, hook functions of its subtree) pairs are kept in chain order.
    They are not invalidated by the methods that change the chain but checked against it before
    every hook: the chain and each parent's `.addons` are compared by identity with what they
    were built from, so no way of changing the chain leaves them stale (add, remove, register,
    clear, a script's reload, an addon that edits its own `.addons`). Each top-level addon runs
    under one error handler, as under mitmproxy's `safecall`: an error is logged as mitmproxy
    logs it and the next addon runs; `AddonHalt` stops the hook; addons appended to the chain
    while a hook runs get it too. Rare hooks (load, configure, running, done, and `trigger`)
    take mitmproxy's own walk. Seen only from the next hook on, where mitmproxy's lazy walk may
    see them at once: a parent's `.addons` edited by a hook while it runs. Not seen until the
    chain changes: a hook method bound to an addon, or `.addons` given to one, after it joined."""

    _seen: list[tuple] | None = None  # the layout the plans were built for
    _parents: list[object] = []  # the addons with children, found by mitmproxy's traverse
    _plans: dict[str, tuple[Entry, ...]] = {}

    async def handle_lifecycle(self, event: hooks.Hook) -> None:
        args = event.args()
        await self._dispatch(event, args)
        if isinstance(args[0], flow.Flow):
            update = hooks.UpdateHook([args[0]])
            await self._dispatch(update, [update.flows])

    async def _dispatch(self, event: hooks.Hook, args: list) -> None:
        plan = self._plan(event.name)
        if plan is None:
            await self.trigger_event(event)
            return
        chain, planned = self.chain, len(self.chain)
        for addon, functions in plan:
            try:
                if functions is None:
                    await self.invoke_addon(addon, event)
                    continue
                for function in functions:
                    result = function(*args)
                    if result is not None and inspect.isawaitable(result):
                        await result
            except exceptions.AddonHalt:
                return
            except exceptions.OptionsError:
                raise
            except Exception as exc:
                _log_addon_error(exc)
        # mitmproxy's loop over the chain also reaches the addons appended while it runs.
        while planned < len(chain):
            planned += 1
            try:
                with addonmanager.safecall():
                    await self.invoke_addon(chain[planned - 1], event)
            except exceptions.AddonHalt:
                return

    def _plan(self, name: str) -> tuple[Entry, ...] | None:
        """Who implements hook `name` in the chain as it is now; None for mitmproxy's own walk,
        which reports an addon whose `.addons` or hook attribute raises when read."""
        try:
            if self._layout() != self._seen:
                traversed = addonmanager.traverse(self.chain)
                self._parents = [addon for addon in traversed if hasattr(addon, "addons")]
                self._seen, self._plans = self._layout(), {}
            if name not in self._plans:
                entries = (_entry(addon, name) for addon in self.chain)
                self._plans[name] = tuple(entry for entry in entries if entry)
            return self._plans[name]
        except Exception:
            self._seen = None
            return None

    def _layout(self) -> list[tuple]:
        """The chain and each parent's children, whose identity the plans hold true for."""
        return [tuple(self.chain), *[tuple(getattr(p, "addons", ())) for p in self._parents]]


def _entry(top: object, name: str) -> Entry | None:
    """`top`'s entry in the plan of hook `name`, as mitmproxy's `_iter_hooks` finds them."""
    found = [getattr(a, name, None) for a in addonmanager.traverse([top])]
    # As mitmproxy: a false value is no hook, a module of the hook's name is skipped.
    functions = [f for f in found if f and not isinstance(f, types.ModuleType)]
    if not functions:
        return None
    return top, tuple(functions) if all(map(callable, functions)) else None


def _log_addon_error(exc: Exception) -> None:
    """What mitmproxy's `safecall` logs: the traceback from the addon's own frame on."""
    tb = addonmanager.cut_traceback(exc.__traceback__, "_dispatch")
    tb = addonmanager.cut_traceback(tb, "invoke_addon")
    addonmanager.logger.error(f"Addon error: {exc}", exc_info=(type(exc), exc, tb))


class Wstape:
    """The recorder's addons as one entry of mitmproxy's chain, its children as a script's are.
    Under mitmproxy's own walk, one entry holding the two addons cost 0.6-0.9 µs per message
    more than the recorder alone, two entries 2.0-2.9 µs more; HookDispatch skips it for every
    hook its children do not implement."""

    def __init__(self) -> None:
        self.addons = default_addons()


class RecordingDumpMaster(dump.DumpMaster):
    dispatch: type[addonmanager.AddonManager] = HookDispatch  # bench/ compares mitmproxy's own

    def __init__(self, options, **kwargs) -> None:
        super().__init__(options, **kwargs)
        # Master.__init__ builds its AddonManager and connects the options' change signal to
        # it; HookDispatch adds methods and state it builds itself, so the manager changes
        # class in place, keeping what it holds.
        self.addons.__class__ = self.dispatch
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


def main(
    args: Sequence[str] | None = None, master: type[dump.DumpMaster] = RecordingDumpMaster
) -> None:
    arguments = sys.argv[1:] if args is None else args
    # mitmproxy prefixes its errors with sys.argv[0], here the path of this file.
    sys.argv[0] = "mitmdump"
    mitmproxy_main.run(
        master,
        cmdline.mitmdump,
        arguments,
        _filter_options,
    )


if __name__ == "__main__":
    main()
