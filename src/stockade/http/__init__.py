"""ASGI app assembly, authentication dependencies and problem+json errors."""
