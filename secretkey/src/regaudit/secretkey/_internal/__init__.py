"""Hazardous internals of the secret-key distribution. Nothing here is public API."""

__all__: list[str] = []
