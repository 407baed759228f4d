"""The client's resume journal: what a rerun needs to finish an audit whose process was killed.

Within one process the client already resumes an interrupted upload (``reconnect``,
``exchange``). A *killed* client loses the audit's CKKS secret key with its memory, so a rerun
would make fresh keys and a fresh job. With an explicit ``--idempotency-key`` the client keeps a
journal instead, under ``<identity dir>/audits/resume/<id>/`` (mode 0700):

- ``journal.json``: the audit's identifiers (audit id, canary seed, idempotency key), what it
  audits (primitive, plan, public inputs, a digest of the input data, regulator key id), the
  evaluation-key digest, and the CKKS secret key **sealed at rest**: AES-256-GCM under a key
  derived from the client's own Ed25519 identity key (HKDF, random salt; the rest of the journal
  is the associated data, so no field can be changed without the seal failing). The secret key
  is never on disk in the clear;
- ``relin.bin`` / ``galois.bin``: the public evaluation keys (re-uploaded if the evaluator lost
  them);
- ``sent.log``: one line per ciphertext, written *before* the ciphertext is handed to the
  upload stream (write-ahead), so every ciphertext the evaluator may hold is listed: the rerun
  checks the evaluator's held digests against it and uploads only the rest.

A rerun with the same idempotency key, identity and input restores the keys and identifiers
and resumes the same job; a different input (or plan, public inputs, regulator) is refused
(``InputError``, field ``idempotency_key``). The journal is deleted when the bundle is written,
and when the audit fails for any reason other than an unreachable evaluator (exit 3: the
operator may rerun). A lock (``flock``) keeps two processes from using one journal at once.

Steps of :meth:`ResumeJournal.load` (every check raises):

1. the journal's format and size; 2. it belongs to this identity (key id); 3. the seal opens
(AES-GCM tag over the whole journal) -- a tampered or foreign journal fails here; 4. the
evaluation keys on disk hash to the journal's digest; 5. the caller compares what it audits
(:meth:`ResumeJournal.check_matches`).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import secrets
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from regaudit.client.encryption import ManifestEntry
from regaudit.shared.errors import (
    EXIT_VERIFICATION_FAILED,
    InputError,
    RegauditError,
    VerificationError,
)
from regaudit.shared.evaluation_keys import EvaluationKeys
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.files import write_file_atomic

#: Format tag of ``journal.json``.
JOURNAL_FORMAT = "regaudit.resume-journal.v1"
#: HKDF purpose label of the key that seals the secret key at rest.
SEAL_INFO = b"regaudit/client-resume-journal/v1"
#: Largest ``journal.json`` read back (bytes).
MAX_JOURNAL_BYTES = 1024 * 1024
#: Largest ``sent.log`` read back (bytes: about 100 per ciphertext, 2^20 ciphertexts).
MAX_SENT_LOG_BYTES = 128 * 1024 * 1024
_SEALED_FIELDS = ("salt", "nonce", "ciphertext")


class ResumeJournalError(VerificationError):
    """A resume journal that cannot be trusted: altered, truncated, or another identity's."""

    reason = "resume_journal_invalid"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise ResumeJournalError("resume journal field is not base64 text", field=field)
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise ResumeJournalError("resume journal field is not base64", field=field) from None


def _digest(value: object) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()


def input_digest(chunks: Iterable[Mapping[str, Any]]) -> str:
    """Digest of the audit's input as the encryption sees it: every chunk's columns, in
    order, as little-endian float64 (a rerun on other data cannot resume this audit)."""
    import numpy as np

    hasher = hashlib.sha256(b"regaudit/resume-input/v1\x00")
    for index, chunk in enumerate(chunks):
        hasher.update(f"chunk {index}\x00".encode())
        for column in sorted(chunk):
            values = np.ascontiguousarray(np.asarray(chunk[column], dtype="<f8"))
            hasher.update(column.encode() + b"\x00" + len(values).to_bytes(8, "little"))
            hasher.update(values.tobytes())
    return "sha256:" + hasher.hexdigest()


def journal_directory(base: Path, *, client_key_id: str, idempotency_key: str) -> Path:
    """Where the journal of ``idempotency_key`` lives under ``base`` (the identity dir)."""
    name = hashlib.sha256(f"{client_key_id}\x00{idempotency_key}".encode()).hexdigest()[:32]
    return base / "audits" / "resume" / name


@dataclass(frozen=True)
class JournalContent:
    """What a journal records about its audit (everything but the sealed key)."""

    idempotency_key: str
    client_key_id: str
    audit_id: str
    canary_seed: bytes
    primitive: str
    plan_digest: str
    public_digest: str
    input_digest: str
    regulator_key_id: str
    evaluation_keys_digest: str
    profile_name: str
    galois_steps: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": JOURNAL_FORMAT,
            "idempotency_key": self.idempotency_key,
            "client_key_id": self.client_key_id,
            "audit_id": self.audit_id,
            "canary_seed": _b64(self.canary_seed),
            "primitive": self.primitive,
            "plan_digest": self.plan_digest,
            "public_digest": self.public_digest,
            "input_digest": self.input_digest,
            "regulator_key_id": self.regulator_key_id,
            "evaluation_keys_digest": self.evaluation_keys_digest,
            "profile_name": self.profile_name,
            "galois_steps": list(self.galois_steps),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> JournalContent:
        try:
            return cls(
                idempotency_key=str(doc["idempotency_key"]),
                client_key_id=str(doc["client_key_id"]),
                audit_id=str(doc["audit_id"]),
                canary_seed=_unb64(doc["canary_seed"], "canary_seed"),
                primitive=str(doc["primitive"]),
                plan_digest=str(doc["plan_digest"]),
                public_digest=str(doc["public_digest"]),
                input_digest=str(doc["input_digest"]),
                regulator_key_id=str(doc["regulator_key_id"]),
                evaluation_keys_digest=str(doc["evaluation_keys_digest"]),
                profile_name=str(doc["profile_name"]),
                galois_steps=tuple(int(s) for s in doc["galois_steps"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ResumeJournalError(f"resume journal is malformed: {exc!r}") from None


def describe(primitive: str, plan: Any, public: Mapping[str, Any]) -> tuple[str, str]:
    """(plan digest, public-inputs digest) as a journal records them."""
    return _digest({"primitive": primitive, "plan": plan.to_dict()}), _digest(dict(public))


class ResumeJournal:
    """One audit's resume journal (see the module docstring). Hold it with ``with``: the
    lock is taken on creation or load and released on close."""

    def __init__(self, directory: Path, content: JournalContent, lock: IO[bytes]) -> None:
        self.directory = directory
        self.content = content
        self._lock = lock
        self._log: IO[str] | None = None

    # --- creating and loading ---------------------------------------------------------------

    @staticmethod
    def _lock_directory(directory: Path) -> IO[bytes]:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = (directory / "lock").open("ab")
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise InputError(
                f"another client process is running the audit of this idempotency key "
                f"(journal {directory} is locked)",
                field="idempotency_key",
            ) from None
        return lock

    @classmethod
    def create(
        cls,
        directory: Path,
        content: JournalContent,
        *,
        identity: SigningIdentity,
        secret_key: bytes,
        evaluation_keys: EvaluationKeys,
    ) -> ResumeJournal:
        """Write a new journal (replacing none: the caller loads an existing one first)."""
        lock = cls._lock_directory(directory)
        try:
            document = content.to_dict()
            salt, nonce = secrets.token_bytes(32), secrets.token_bytes(12)
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            key = identity.derive_secret(info=SEAL_INFO, salt=salt)
            sealed = AESGCM(key).encrypt(nonce, secret_key, canonical_json(document))
            document["sealed_secret_key"] = {
                "salt": _b64(salt),
                "nonce": _b64(nonce),
                "ciphertext": _b64(sealed),
            }
            write_file_atomic(
                directory / "relin.bin", evaluation_keys.relin_keys, mode=0o600, overwrite=True
            )
            write_file_atomic(
                directory / "galois.bin", evaluation_keys.galois_keys, mode=0o600, overwrite=True
            )
            (directory / "sent.log").write_text("")
            write_file_atomic(
                directory / "journal.json", canonical_json(document), mode=0o600, overwrite=True
            )
        except BaseException:
            lock.close()
            raise
        return cls(directory, content, lock)

    @classmethod
    def load(
        cls, directory: Path, *, identity: SigningIdentity
    ) -> tuple[ResumeJournal, bytes, EvaluationKeys] | None:
        """The journal in ``directory`` with its unsealed secret key and evaluation keys, or
        None if there is none (see the module docstring for the numbered checks)."""
        path = directory / "journal.json"
        if not path.exists():
            return None
        lock = cls._lock_directory(directory)
        try:
            # 1. format and size
            if path.stat().st_size > MAX_JOURNAL_BYTES:
                raise ResumeJournalError(f"resume journal {path} is too large")
            try:
                document = json.loads(path.read_bytes())
            except (OSError, ValueError) as exc:
                raise ResumeJournalError(f"cannot read resume journal {path}: {exc}") from None
            if not isinstance(document, dict) or document.get("format") != JOURNAL_FORMAT:
                raise ResumeJournalError(f"{path} is not a {JOURNAL_FORMAT} journal")
            sealed = document.pop("sealed_secret_key", None)
            content = JournalContent.from_dict(document)
            # 2. this identity's
            if content.client_key_id != identity.key_id:
                raise ResumeJournalError(
                    f"resume journal {path} belongs to client key {content.client_key_id}, "
                    f"not {identity.key_id}",
                    field="identity",
                )
            # 3. the seal opens over the whole journal
            if not isinstance(sealed, dict) or set(sealed) != set(_SEALED_FIELDS):
                raise ResumeJournalError("resume journal has no sealed secret key")
            from cryptography.exceptions import InvalidTag
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            key = identity.derive_secret(info=SEAL_INFO, salt=_unb64(sealed["salt"], "salt"))
            try:
                secret_key = AESGCM(key).decrypt(
                    _unb64(sealed["nonce"], "nonce"),
                    _unb64(sealed["ciphertext"], "ciphertext"),
                    canonical_json(content.to_dict()),
                )
            except (InvalidTag, ValueError):
                raise ResumeJournalError(
                    f"resume journal {path} was altered (its seal does not open)"
                ) from None
            # 4. the evaluation keys on disk are the journal's
            try:
                keys = EvaluationKeys(
                    profile_name=content.profile_name,
                    relin_keys=(directory / "relin.bin").read_bytes(),
                    galois_keys=(directory / "galois.bin").read_bytes(),
                    galois_steps=content.galois_steps,
                )
            except OSError as exc:
                raise ResumeJournalError(f"resume journal keys are missing: {exc}") from None
            if keys.digest != content.evaluation_keys_digest:
                raise ResumeJournalError("resume journal's evaluation keys were altered")
        except BaseException:
            lock.close()
            raise
        return cls(directory, content, lock), secret_key, keys

    def check_matches(self, expected: JournalContent) -> None:
        """5. The rerun audits what the interrupted run audited (InputError otherwise)."""
        for name in ("primitive", "plan_digest", "public_digest", "input_digest"):
            if getattr(self.content, name) != getattr(expected, name):
                what = name.removesuffix("_digest").replace("_", " ")
                raise InputError(
                    f"the {what} differs from the interrupted audit that used this idempotency "
                    "key; use a new --idempotency-key for a new audit",
                    field="idempotency_key",
                )
        if self.content.regulator_key_id != expected.regulator_key_id:
            raise InputError(
                "the regulator card differs from the interrupted audit that used this "
                "idempotency key; use a new --idempotency-key",
                field="idempotency_key",
            )

    # --- the write-ahead log of sent ciphertexts --------------------------------------------

    def record(self, entry: ManifestEntry) -> None:
        """Append ``entry`` before its ciphertext is sent (flushed to the OS at once)."""
        if self._log is None:
            self._log = (self.directory / "sent.log").open("a", encoding="ascii")
        self._log.write(f"{entry.column}\t{entry.chunk}\t{entry.digest}\t{entry.size}\n")
        self._log.flush()

    def sent(self) -> list[ManifestEntry]:
        """Every ciphertext an earlier run may have sent, in order (a torn last line, from a
        process killed mid-write, is left out: its ciphertext was never handed over)."""
        path = self.directory / "sent.log"
        if not path.exists():
            return []
        if path.stat().st_size > MAX_SENT_LOG_BYTES:
            raise ResumeJournalError(f"{path} is too large")
        entries: list[ManifestEntry] = []
        for line in path.read_text(encoding="ascii", errors="replace").split("\n"):
            parts = line.split("\t")
            if len(parts) != 4:
                continue  # the torn tail (or the empty string after the last newline)
            column, chunk, digest, size = parts
            try:
                entries.append(ManifestEntry(column, int(chunk), digest, int(size)))
            except ValueError:
                continue
        return entries

    # --- ending -----------------------------------------------------------------------------

    def close(self) -> None:
        """Release the lock (the journal stays for a rerun)."""
        if self._log is not None:
            self._log.close()
            self._log = None
        with contextlib.suppress(OSError):
            self._lock.close()

    def discard(self) -> None:
        """Delete the journal (the audit ended: its bundle is written, or it failed for good)."""
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ResumeJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_rerunnable(error: BaseException) -> bool:
    """Whether an audit that failed with ``error`` keeps its journal for a rerun: the evaluator
    was unreachable or the job could not be finished now (exit 3), or the process was
    interrupted."""
    from regaudit.shared.errors import EXIT_EVALUATOR_FAILED

    if isinstance(error, KeyboardInterrupt):
        return True
    return isinstance(error, RegauditError) and error.exit_code == EXIT_EVALUATOR_FAILED


__all__ = [
    "JOURNAL_FORMAT",
    "JournalContent",
    "ResumeJournal",
    "ResumeJournalError",
    "describe",
    "input_digest",
    "is_rerunnable",
    "journal_directory",
]
