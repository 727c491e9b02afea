"""Analysts' tools: read the event log back and compute statistics from it."""
