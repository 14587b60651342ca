"""Wire protocols: each a pure, per-connection decoder from recorded messages to events."""
