"""Which connections of a shard carried the same run id or thread: where one process could have
joined their events into one run. The main process compares these across shards
(merge.crossed): a run id or thread carried in two shards is a run that crossed them."""

from __future__ import annotations

import hashlib
from array import array


class Links:
    """Which connections judged here carried the same run id or thread: groups of them, each
    with the digests of its ids, which the main process compares across shards. `runs` and
    `threads` give each id the first connection that carried it; the loop links the others."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.runs: dict[str, str] = {}
        self.threads: dict[str, str] = {}

    def _find(self, conn: str) -> str:
        parent = self.parent
        root = conn
        while parent.get(root, root) != root:
            root = parent[root]
        while conn != root:
            parent[conn], conn = root, parent.get(conn, root)
        return root

    def link(self, a: str, b: str) -> None:
        self.parent.setdefault(a, a)
        self.parent.setdefault(b, b)
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self.parent[ra] = rb

    def groups(self) -> tuple[array, array, list[tuple[str, ...]]]:
        roots: dict[str, list[str]] = {}
        for conn in {*self.parent, *self.runs.values(), *self.threads.values()}:
            roots.setdefault(self._find(conn), []).append(conn)
        number = {root: n for n, root in enumerate(roots)}
        keys, key_groups = array("q"), array("q")
        for tag, ids in ((b"r", self.runs), (b"t", self.threads)):
            for key, conn in ids.items():
                keys.append(_digest(tag, key))
                key_groups.append(number[self._find(conn)])
        return keys, key_groups, [tuple(sorted(conns)) for conns in roots.values()]


def _digest(tag: bytes, key: str) -> int:
    """A key in 8 bytes, the same in every process (str hashes are salted per process)."""
    data = tag + key.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)
