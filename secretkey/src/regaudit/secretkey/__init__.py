"""regaudit secret-key code: every operation that needs a CKKS secret key or the regulator's
HPKE private key.

* :mod:`regaudit.secretkey.ckks` -- CKKS key generation (:class:`ClientKeys`), symmetric
  encryption (:func:`encrypt_with_secret_key`) and decryption (:class:`SecretKeyDecryptor`);
* :mod:`regaudit.secretkey.sealing` -- the regulator's HPKE key pair (:class:`RegulatorKeys`)
  and :func:`unseal_secret_key`.

Only the client and the regulator install this distribution (``regaudit-secretkey``); the
evaluator's environment does not contain it. import-linter contracts forbid
``regaudit.evaluator`` and ``regaudit.shared`` from importing it, and the evaluator daemon and
its workers refuse to run if any ``regaudit.secretkey`` module is loaded
(:func:`regaudit.shared.custody.assert_no_secret_key_code`).
"""

from regaudit.secretkey.ckks import (
    MAX_SECRET_KEY_BYTES,
    ClientKeys,
    SecretKeyDecryptor,
    encrypt_with_secret_key,
)
from regaudit.secretkey.sealing import RegulatorKeys, unseal_secret_key
from regaudit.shared.versioning import version as _distribution_version

#: This distribution's installed version (:mod:`regaudit.shared.versioning`).
__version__ = _distribution_version("regaudit-secretkey")

__all__ = [
    "MAX_SECRET_KEY_BYTES",
    "ClientKeys",
    "RegulatorKeys",
    "SecretKeyDecryptor",
    "__version__",
    "encrypt_with_secret_key",
    "unseal_secret_key",
]
