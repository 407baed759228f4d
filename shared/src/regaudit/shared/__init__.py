"""regaudit shared core: profiles, slot-vector algebra, circuits, evidence and protocol stubs."""

from regaudit.shared.versioning import version

#: This distribution's installed version (the repository's ``VERSION`` file, through the
#: package metadata: :mod:`regaudit.shared.versioning`).
__version__ = version("regaudit-shared")

__all__ = ["__version__", "version"]
