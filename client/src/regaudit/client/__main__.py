"""``python -m regaudit.client`` runs the ``regaudit-client`` command line."""

from __future__ import annotations

from regaudit.client.cli import main

#: Nothing to import: running the module is its use.
__all__: list[str] = []

if __name__ == "__main__":
    main()
