"""``python -m regaudit.client`` runs the ``regaudit-client`` command line."""

from __future__ import annotations

from regaudit.client.cli import main

if __name__ == "__main__":
    main()
