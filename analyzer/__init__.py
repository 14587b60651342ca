"""Everything wstape does offline: reading captures, events, runs, verdicts, reports."""
