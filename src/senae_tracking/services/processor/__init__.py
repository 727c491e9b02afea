"""The processor service."""
