"""SENAE Tracking: follow imports through Ecuador's customs and alert importers when cargo advances."""

__version__ = "0.1.0"
