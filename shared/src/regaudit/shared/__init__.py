"""regaudit shared core: profiles, slot-vector algebra, circuits, evidence and protocol stubs."""

__version__ = "0.1.0"

__all__ = ["__version__"]
