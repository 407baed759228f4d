"""Hazardous internals. Nothing here is public API."""

__all__: list[str] = []
