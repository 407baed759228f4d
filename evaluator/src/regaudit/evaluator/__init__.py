"""regaudit evaluator: the keyless gRPC daemon that runs CKKS audit circuits and signs receipts.

It holds evaluation keys and its own Ed25519 receipt-signing key, never a CKKS secret key: the
secret-key code lives in the ``regaudit-secretkey`` distribution, which the evaluator does not
install; an import-linter contract forbids importing ``regaudit.secretkey`` from this package,
and the daemon and its workers refuse to run if any such module is loaded.
"""

__version__ = "0.1.0"
