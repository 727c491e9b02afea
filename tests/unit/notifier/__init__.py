"""Unit tests of the notifier (no I/O)."""
