"""The run assembler as a shard of a split analysis drives it (analyzer/parallel): fed only the
records of its own connections, it is also told the time of the others' (`tick`), so that it
hands runs back at the same records as one process fed everything; and it says how many runs
it has opened, which numbers them in the whole capture."""

from __future__ import annotations

from wstape.analyzer.pipeline.runs import Run, RunAssembler


class ShardAssembler(RunAssembler):
    """A RunAssembler with what a shard asks of it; fed every record, it is one."""

    def tick(self, ts: float) -> list[Run]:
        """Capture time reaching `ts` on a record it is not fed: hands back the runs due, as an
        event at `ts` would (RunAssembler.add sweeps first)."""
        return self._sweep(ts) if ts >= self._sweep_at else []

    @property
    def due(self) -> float:
        """The capture time from which an event or a tick looks for runs to hand back again;
        before it, `tick` hands back nothing."""
        return self._sweep_at

    @property
    def opened(self) -> int:
        """How many runs it has opened: the last one's ordinal."""
        return self._ordinal
