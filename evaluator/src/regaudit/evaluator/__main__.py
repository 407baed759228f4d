"""``python -m regaudit.evaluator`` runs the CLI."""

from regaudit.evaluator.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    main()
