"""wstape: record the chats between clients and an AI-agent backend through mitmproxy, and judge
offline whether every chat got its seven events, in order, on time, to the right user.

`wstape.validate(path)` judges a capture for a test; `wstape.analyze(path)` gives its Report;
`wstape.load(path)` gives its frames as a pandas DataFrame (pandas is imported only then).
The parts: `wstape.recorder` runs inside mitmproxy, `wstape.analyzer` works offline,
`wstape.demo` is a reference backend; docs/architecture.md is the map.
"""

from wstape.analyzer.api import Analysis, analyze, analyze_records, iter_verdicts, validate
from wstape.analyzer.export.frames import load
from wstape.analyzer.pipeline.rules import Code, Outcome, Verdict
from wstape.analyzer.profile import Profile, ProfileError, Targets, load_profile
from wstape.analyzer.reports.report import Report
from wstape.recorder import __version__

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
    "validate",
]
