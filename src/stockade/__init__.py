"""Stockade: threat defense, device management and conditional access, joined."""

__version__ = "0.1.0"
