"""``python -m regaudit.regulator`` runs the ``regaudit-regulator`` command line."""

from __future__ import annotations

from regaudit.regulator.cli import main

#: Nothing to import: running the module is its use.
__all__: list[str] = []

if __name__ == "__main__":
    main()
