"""Hazardous internals. Nothing here is public API."""
