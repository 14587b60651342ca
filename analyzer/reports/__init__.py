"""Reports: a Report of verdicts rendered as text, JSON, JUnit XML, HTML and plots."""
