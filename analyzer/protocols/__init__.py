"""Wire protocols: each a pure, per-connection decoder from recorded messages to events; the
interface and the Event record are in events.py, the table of protocols in registry.py."""
