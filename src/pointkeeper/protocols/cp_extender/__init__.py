"""The CP Extender loyalty REST API (seed 001)."""

from .routes import cp_extender_routes

__all__ = ["cp_extender_routes"]
