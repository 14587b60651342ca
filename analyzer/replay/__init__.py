"""Replay: a recorded session re-driven against a new build, recorded and judged again."""
