"""``python -m regaudit.evaluator`` runs the CLI."""

from regaudit.evaluator.cli import main

if __name__ == "__main__":
    main()
