"""Ingest benchmark (placeholder)."""
