"""regaudit evaluator: the keyless gRPC daemon that runs CKKS audit circuits and signs receipts.

It holds evaluation keys and its own Ed25519 receipt-signing key, never a CKKS secret key (an
import-linter contract forbids importing ``regaudit.shared.secretkey`` from this package).
"""

__version__ = "0.1.0"
