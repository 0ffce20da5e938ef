"""Event bus between contexts: an interface and its in-process implementation."""

from stockade.bus.base import Bus, Handler
from stockade.bus.memory import InProcessBus

__all__ = ["Bus", "Handler", "InProcessBus"]
