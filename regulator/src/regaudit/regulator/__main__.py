"""``python -m regaudit.regulator`` runs the ``regaudit-regulator`` command line."""

from __future__ import annotations

from regaudit.regulator.cli import main

if __name__ == "__main__":
    main()
