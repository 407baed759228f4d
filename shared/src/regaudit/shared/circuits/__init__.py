"""Audit circuits. Each primitive is one module; ``registry`` maps (id, version) to it."""
