"""Canonical event model and parsers (Sysmon / Windows field names)."""
