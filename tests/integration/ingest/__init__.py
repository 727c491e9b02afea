"""Integration tests of the ingest service."""
