"""Benchmarks of wstape against its peers (bare mitmdump, a direct connection, raw msgpack
decode), reported as ratios measured side by side in one run; not tests, nothing asserted.
Run with `python -m bench` (or `make bench`); `--quick` for a fast, noisier variant."""
