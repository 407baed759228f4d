"""regaudit evaluator: the keyless gRPC daemon that runs CKKS audit circuits and signs receipts.

It holds evaluation keys and its own Ed25519 receipt-signing key, never a CKKS secret key: the
secret-key code lives in the ``regaudit-secretkey`` distribution, which the evaluator does not
install; an import-linter contract forbids importing ``regaudit.secretkey`` from this package,
and the daemon and its workers refuse to run if any such module is loaded.
"""

from regaudit.shared.versioning import version as _distribution_version

#: This distribution's installed version (:mod:`regaudit.shared.versioning`); the receipt's
#: ``software`` field and the worker identity check read it.
__version__ = _distribution_version("regaudit-evaluator")
