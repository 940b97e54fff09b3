"""The admin API (SPEC §4): JSON under ``/admin/v1``, described by the
OpenAPI document the sub-application publishes at ``/admin/openapi.json``."""

from .app import create_admin_app

__all__ = ["create_admin_app"]
