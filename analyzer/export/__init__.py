"""Export: frames and events as JSON lines, CSV, Parquet and pandas DataFrames."""
