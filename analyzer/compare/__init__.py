"""Release against release: the metrics of two reports, tested for change, and rendered."""
