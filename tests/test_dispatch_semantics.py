"""wstape's hook dispatch (recorder/dump.py's HookDispatch) against mitmproxy's own AddonManager,
in one process: fed the same trees of addons, the same changes to the chain between events and
the same events, both make the same calls in the same order, log the same errors and raise the
same exceptions. Hypothesis draws the trees, what each hook does, and the changes; the recorder
through a real mitmdump is tested in tests/test_dispatch.py."""

from __future__ import annotations

import asyncio
import logging
import traceback
import types
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy import addonmanager, exceptions, hooks, master
from mitmproxy.proxy import server_hooks
from mitmproxy.proxy.layers import websocket
from mitmproxy.proxy.layers.http import HttpRequestHook
from mitmproxy.test import tflow

from wstape.recorder.dump import HookDispatch

HOOKS = ("request", "websocket_message", "client_connected", "update")
# What a hook does when called: log and return, log after an await, raise, halt the hook for
# the addons after it, add an addon to the chain, leave the chain; or it is not a hook at all.
DOES = ("sync", "async", "raise", "halt", "add", "leave", "options_error", "not_callable", "module")


@dataclass(frozen=True)
class Node:
    hooks: tuple[tuple[str, str], ...]  # (hook name, what it does)
    children: tuple[Node, ...] | None  # None: the addon has no `.addons`


def _nodes() -> st.SearchStrategy[Node]:
    # Half the hooks just log: the changes to the chain between events need hooks to call.
    does = st.one_of(st.just("sync"), st.sampled_from(DOES))
    hook_table = st.dictionaries(st.sampled_from(HOOKS), does, min_size=1, max_size=4)
    leaves = st.builds(Node, hook_table.map(lambda d: tuple(d.items())), st.none())
    return st.recursive(
        leaves,
        lambda kids: st.builds(
            Node, hook_table.map(lambda d: tuple(d.items())), st.lists(kids, max_size=3).map(tuple)
        ),
        max_leaves=6,
    )


NODES = _nodes()
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("event"), st.integers(0, 2)),
        st.tuples(st.just("event"), st.integers(0, 2)),  # twice as likely as each change
        st.tuples(st.just("add"), NODES),
        st.tuples(st.just("remove"), st.integers(0, 9)),
        st.tuples(st.just("adopt"), st.integers(0, 9), NODES),  # a parent edits its .addons
        st.tuples(st.just("orphan"), st.integers(0, 9)),
    ),
    max_size=14,
)


@dataclass
class World:
    """One manager's run: what the addons were called with, and what was logged."""

    manager: addonmanager.AddonManager
    calls: list[tuple] = field(default_factory=list)
    made: int = 0

    def probe(self, node: Node) -> Probe:
        self.made += 1
        return Probe(f"p{self.made}", node, self)


class Probe:
    def __init__(self, name: str, node: Node, world: World) -> None:
        self.name = name
        for hook, does in node.hooks:
            setattr(self, hook, _hook(self, hook, does, world))
        if node.children is not None:
            self.addons = [world.probe(child) for child in node.children]

    def __repr__(self) -> str:  # mitmproxy names the addon in some errors
        return self.name


def _hook(probe: Probe, hook: str, does: str, world: World):
    if does == "not_callable":
        return 42
    if does == "module":
        return types.ModuleType(hook)

    def act() -> None:
        world.calls.append((probe.name, hook))
        if does == "raise":
            raise RuntimeError(f"{probe.name} failed in {hook}")
        if does == "halt":
            raise exceptions.AddonHalt
        if does == "options_error":
            raise exceptions.OptionsError(f"{probe.name} rejects {hook}")
        if does == "add":
            world.manager.add(world.probe(Node(tuple((h, "sync") for h in HOOKS), None)))
        if does == "leave":
            world.manager.remove(probe)

    def sync_hook(*args) -> None:
        act()

    async def async_hook(*args) -> None:
        await asyncio.sleep(0)
        act()

    return async_hook if does == "async" else sync_hook


class Errors(logging.Handler):
    """mitmproxy's addon errors: the message and the frames of the traceback it logs."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple] = []

    def emit(self, record: logging.LogRecord) -> None:
        frames = ()
        if record.exc_info and record.exc_info[2]:
            frames = tuple(f.name for f in traceback.extract_tb(record.exc_info[2]))
        self.seen.append((record.getMessage(), frames))


def _events() -> list[hooks.Hook]:
    return [
        HttpRequestHook(tflow.tflow()),
        websocket.WebsocketMessageHook(tflow.twebsocketflow()),
        server_hooks.ClientConnectedHook(tflow.tclient_conn()),
    ]


async def _play(dispatch: type[addonmanager.AddonManager], chain: list[Node], steps) -> tuple:
    proxy = master.Master(None)
    proxy.addons.__class__ = dispatch
    world = World(proxy.addons)
    for node in chain:
        proxy.addons.add(world.probe(node))
    events = _events()
    try:
        for step in steps:
            world.calls.append(step[:2] if step[0] != "add" else ("add",))
            try:
                await _step(world, step, events)
            except Exception as exc:  # what escapes the manager is part of its behaviour
                world.calls.append(("raised", type(exc).__name__, str(exc)))
    finally:
        # The master logs through this event loop until it is done; asyncio.run closes it.
        await proxy.done()
    return world.calls


async def _step(world: World, step: tuple, events: list[hooks.Hook]) -> None:
    manager = world.manager
    parents = [a for a in addonmanager.traverse(manager.chain) if hasattr(a, "addons")]
    match step:
        case ("event", which):
            await manager.handle_lifecycle(events[which])
        case ("add", node):
            manager.add(world.probe(node))
        case ("remove", which) if manager.chain:
            manager.remove(manager.chain[which % len(manager.chain)])
        case ("adopt", which, node) if parents:
            parents[which % len(parents)].addons.append(world.probe(node))
        case ("orphan", which) if parents and parents[which % len(parents)].addons:
            parents[which % len(parents)].addons.pop()


def _run(dispatch: type[addonmanager.AddonManager], chain: list[Node], steps) -> tuple:
    errors = Errors()
    logger = logging.getLogger("mitmproxy.addonmanager")
    logger.addHandler(errors)
    try:
        calls = asyncio.run(_play(dispatch, chain, steps))
    finally:
        logger.removeHandler(errors)
    return calls, errors.seen


@settings(deadline=None, max_examples=4 * settings.default.max_examples)
@given(chain=st.lists(NODES, min_size=1, max_size=4), steps=STEPS)
def test_every_addon_gets_the_same_hook_calls_in_the_same_order_as_from_mitmproxy(
    chain, steps
) -> None:
    theirs = _run(addonmanager.AddonManager, chain, steps)
    ours = _run(HookDispatch, chain, steps)
    assert ours == theirs


def test_an_addon_adopted_by_a_parent_between_events_gets_the_next_one() -> None:
    parent = Node((), ())
    steps = [("event", 1), ("adopt", 0, Node((("websocket_message", "sync"),), None)), ("event", 1)]
    calls, errors = _run(HookDispatch, [parent], steps)
    assert calls == [("event", 1), ("adopt", 0), ("event", 1), ("p2", "websocket_message")]
    assert errors == []


def test_an_addon_that_raises_is_logged_from_its_own_frame_and_the_next_addon_still_runs() -> None:
    chain = [Node((("request", "raise"),), None), Node((("request", "sync"),), None)]
    calls, errors = _run(HookDispatch, chain, [("event", 0)])
    assert calls == [("event", 0), ("p1", "request"), ("p2", "request")]
    assert errors == [("Addon error: p1 failed in request", ("sync_hook", "act"))]
