"""Profiles shipped with wstape, as TOML files a user copies and edits (example.toml)."""
