"""Everything wstape does offline: reading captures, events, runs, verdicts, reports.

`analyzer.validate(path)` judges a capture for a test; `analyzer.load(path)` gives its frames
as a pandas DataFrame (pandas is imported only then).
"""

from analyzer.api import Analysis, analyze, analyze_records, iter_verdicts, validate
from analyzer.frames import load
from analyzer.profile import Profile, ProfileError, Targets, load_profile
from analyzer.report import Report
from analyzer.rules import Code, Outcome, Verdict

__all__ = [
    "Analysis",
    "Code",
    "Outcome",
    "Profile",
    "ProfileError",
    "Report",
    "Targets",
    "Verdict",
    "analyze",
    "analyze_records",
    "iter_verdicts",
    "load",
    "load_profile",
    "validate",
]
