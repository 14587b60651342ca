"""wstape: record the chats between clients and an AI-agent backend through mitmproxy, and judge
offline whether every chat got its seven events, in order, on time, to the right user.

`wstape.validate(path)` judges a capture for a test; `wstape.analyze(path)` gives its Report;
`wstape.load(path)` gives its frames as a pandas DataFrame (pandas is imported only then), and
`wstape.load_runs(path)` its runs, one row each.
The parts: `wstape.recorder` runs inside mitmproxy, `wstape.analyzer` works offline,
`wstape.demo` is a reference backend; docs/architecture.md is the map. The pytest plugin
(wstape/pytest_plugin.py) gives tests the `wstape_recorder` fixture.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from wstape.recorder import __version__

if TYPE_CHECKING:
    from wstape.analyzer.api import Analysis, analyze, analyze_records, iter_verdicts, validate
    from wstape.analyzer.export.frames import load
    from wstape.analyzer.export.runs import load_runs
    from wstape.analyzer.pipeline.verdicts import Code, Outcome, Verdict
    from wstape.analyzer.profile import Profile, ProfileError, Targets, load_profile
    from wstape.analyzer.reports.report import Report

# Each name and the module that holds it, imported on first use: pytest imports this package
# for its plugin in every run of every project in the environment, most of which never use it.
_HOMES = {
    "Analysis": "wstape.analyzer.api",
    "analyze": "wstape.analyzer.api",
    "analyze_records": "wstape.analyzer.api",
    "iter_verdicts": "wstape.analyzer.api",
    "validate": "wstape.analyzer.api",
    "load": "wstape.analyzer.export.frames",
    "load_runs": "wstape.analyzer.export.runs",
    "Code": "wstape.analyzer.pipeline.verdicts",
    "Outcome": "wstape.analyzer.pipeline.verdicts",
    "Verdict": "wstape.analyzer.pipeline.verdicts",
    "Profile": "wstape.analyzer.profile",
    "ProfileError": "wstape.analyzer.profile",
    "Targets": "wstape.analyzer.profile",
    "load_profile": "wstape.analyzer.profile",
    "Report": "wstape.analyzer.reports.report",
}

__all__ = [
    "Analysis",
    "Code",
    "Outcome",
    "Profile",
    "ProfileError",
    "Report",
    "Targets",
    "Verdict",
    "__version__",
    "analyze",
    "analyze_records",
    "iter_verdicts",
    "load",
    "load_profile",
    "load_runs",
    "validate",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'wstape' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
