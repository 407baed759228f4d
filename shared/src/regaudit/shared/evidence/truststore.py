"""The regulator's trust store: trusted evaluator/client keys with revocation dates, allowed
parameter profiles and circuit versions, and freshness limits.

File format (JSON, version 1)::

    {"version": 1,
     "keys": [{"key_id", "kind", "algorithm": "ed25519", "public_key": <b64>, "added_at",
               "revoked_at": null | <RFC 3339>, "note"}],
     "profiles": [{"name", "hash"}],
     "circuits": [{"id", "versions": [<str>, ...]}],
     "max_age_seconds": 604800, "clock_skew_seconds": 300, "witnesses_required": 0}

``witnesses_required`` (policy): how many agreeing witness receipts a bundle must carry; a
store written before the field existed has none and means 0. ``result_policy`` (optional): the
regulator's thresholds for the audit's decisions, four-fifths τ and reference group
(:mod:`regaudit.shared.evidence.result_policy`; used by ``verify --fail-on-breach``).

Revocation is by date: evidence dated at or after ``revoked_at`` is refused, earlier evidence
still verifies. Dates inside evidence are chosen by the signer, so a stolen key could backdate;
``require_fresh`` (max age) bounds how far.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from regaudit.shared.errors import (
    InputError,
    RevokedKeyError,
    StaleEvidenceError,
    UnsupportedCircuitError,
    UntrustedIssuerError,
    WrongParameterSetError,
)
from regaudit.shared.evidence.canonical import (
    canonical_json,
    format_rfc3339,
    parse_digest,
    parse_rfc3339,
    strict_json_loads,
    utc_now,
)
from regaudit.shared.evidence.identity import (
    ALGORITHM,
    PublicKeyRecord,
    load_public_key_file,
    read_small_file,
)
from regaudit.shared.evidence.result_policy import ResultPolicy
from regaudit.shared.files import write_file_atomic
from regaudit.shared.primitives import all_primitives
from regaudit.shared.profiles import PROFILES

TRUST_STORE_VERSION = 1
#: How old evidence may be by default. The times in receipts and submissions are chosen by
#: their signers: a key stolen and revoked at time T can still sign statements dated before T.
#: Evidence time therefore proves only "signed no earlier than the signer claims"; a short
#: window bounds how far back a stolen key can reach (7 days; raise it per trust store).
DEFAULT_MAX_AGE_SECONDS = 7 * 24 * 3600
DEFAULT_CLOCK_SKEW_SECONDS = 300
MAX_TRUST_STORE_BYTES = 4 * 1024 * 1024
MAX_NOTE_CHARS = 1024
TRUSTABLE_KINDS = ("evaluator", "client", "regulator")


def default_circuits() -> dict[str, list[str]]:
    """Circuit versions a new trust store allows: every registered primitive
    (:mod:`regaudit.shared.primitives`) at its current version, the last it registers. Drift
    (the encrypted sign column) and disagreement (output gain) are at version 2; their version 1
    was never released."""
    return {p.circuit.circuit_id: [p.circuit.version] for p in all_primitives()}


STORE_FIELDS = ("version", "keys", "profiles", "circuits", "max_age_seconds", "clock_skew_seconds")
#: Fields a trust store may lack (older stores): the policy, with its default.
OPTIONAL_STORE_FIELDS = ("witnesses_required", "result_policy")
#: Default of ``witnesses_required``: no witness needed.
DEFAULT_WITNESSES_REQUIRED = 0
#: Most witnesses a policy may require.
MAX_WITNESSES_REQUIRED = 16
KEY_FIELDS = ("key_id", "kind", "algorithm", "public_key", "added_at", "revoked_at", "note")


@dataclass(frozen=True)
class TrustedKey:
    """One trust store key entry."""

    record: PublicKeyRecord
    added_at: datetime
    revoked_at: datetime | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        public = self.record.to_dict()
        return {
            "key_id": self.record.key_id,
            "kind": self.record.kind,
            "algorithm": self.record.algorithm,
            "public_key": public["public_key"],
            "added_at": format_rfc3339(self.added_at),
            "revoked_at": None if self.revoked_at is None else format_rfc3339(self.revoked_at),
            "note": self.note,
        }


def _exact(
    obj: object, fields: tuple[str, ...], *, where: str, optional: tuple[str, ...] = ()
) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise InputError("must be a JSON object", field=where)
    missing = [name for name in fields if name not in obj]
    if missing:
        raise InputError("missing field", field=f"{where}.{missing[0]}")
    extra = sorted(set(obj) - set(fields) - set(optional))
    if extra:
        raise InputError("unexpected field", field=f"{where}.{extra[0]}")
    return obj


def _positive_int(value: object, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InputError("must be a non-negative integer", field=field)
    return value


def _witnesses(value: object, field: str) -> int:
    count = _positive_int(value, field)
    if count > MAX_WITNESSES_REQUIRED:
        raise InputError(f"must be at most {MAX_WITNESSES_REQUIRED}", field=field)
    return count


def _text(value: object, field: str, *, limit: int = 256, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > limit or (not value and not allow_empty):
        raise InputError(
            f"must be a {'' if allow_empty else 'non-empty '}string of at most {limit} characters",
            field=field,
        )
    return value


class TrustStore:
    """What the regulator trusts. Mutating methods change memory only; call :meth:`save`."""

    def __init__(
        self,
        *,
        keys: dict[str, TrustedKey] | None = None,
        profiles: dict[str, str] | None = None,
        circuits: dict[str, list[str]] | None = None,
        max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS,
        clock_skew_seconds: int = DEFAULT_CLOCK_SKEW_SECONDS,
        witnesses_required: int = DEFAULT_WITNESSES_REQUIRED,
        result_policy: ResultPolicy | None = None,
    ) -> None:
        self._keys: dict[str, TrustedKey] = dict(keys or {})
        self._profiles: dict[str, str] = dict(profiles or {})
        self._circuits: dict[str, list[str]] = {k: list(v) for k, v in (circuits or {}).items()}
        self.max_age_seconds = max_age_seconds
        self.clock_skew_seconds = clock_skew_seconds
        #: policy: agreeing witness receipts a bundle must carry (MissingWitnessError)
        self.witnesses_required = _witnesses(witnesses_required, "witnesses_required")
        #: policy: the regulator's thresholds for the audit's decisions (verify --fail-on-breach)
        self.result_policy = result_policy or ResultPolicy()

    # --- construction and persistence ----------------------------------------------------

    @classmethod
    def new_default(cls) -> TrustStore:
        """No keys; every built-in profile and the built-in circuit versions allowed."""
        return cls(
            profiles={p.name: p.profile_hash for p in PROFILES},
            circuits=default_circuits(),
        )

    @property
    def keys(self) -> tuple[TrustedKey, ...]:
        return tuple(self._keys.values())

    @property
    def profiles(self) -> dict[str, str]:
        return dict(self._profiles)

    @property
    def circuits(self) -> dict[str, tuple[str, ...]]:
        return {cid: tuple(v) for cid, v in self._circuits.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": TRUST_STORE_VERSION,
            "keys": [entry.to_dict() for entry in self._keys.values()],
            "profiles": [{"name": n, "hash": h} for n, h in self._profiles.items()],
            "circuits": [{"id": c, "versions": list(v)} for c, v in self._circuits.items()],
            "max_age_seconds": self.max_age_seconds,
            "clock_skew_seconds": self.clock_skew_seconds,
            "witnesses_required": self.witnesses_required,
            "result_policy": self.result_policy.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: object) -> TrustStore:
        """Strictly validate a trust store document; InputError names the field."""
        doc = _exact(data, STORE_FIELDS, where="trust", optional=OPTIONAL_STORE_FIELDS)
        if doc["version"] != TRUST_STORE_VERSION or isinstance(doc["version"], bool):
            raise InputError(f"unsupported version {doc['version']!r:.20}", field="trust.version")
        for name in ("keys", "profiles", "circuits"):
            if not isinstance(doc[name], list):
                raise InputError("must be a list", field=f"trust.{name}")
        keys: dict[str, TrustedKey] = {}
        for index, raw in enumerate(doc["keys"]):
            entry = cls._parse_key(raw, where=f"trust.keys[{index}]")
            if entry.record.key_id in keys:
                raise InputError("duplicate key_id", field=f"trust.keys[{index}].key_id")
            keys[entry.record.key_id] = entry
        profiles: dict[str, str] = {}
        for index, raw in enumerate(doc["profiles"]):
            where = f"trust.profiles[{index}]"
            item = _exact(raw, ("name", "hash"), where=where)
            name = _text(item["name"], f"{where}.name")
            parse_digest(item["hash"], field=f"{where}.hash", error=InputError)
            if name in profiles:
                raise InputError("duplicate profile", field=f"{where}.name")
            profiles[name] = item["hash"]
        circuits: dict[str, list[str]] = {}
        for index, raw in enumerate(doc["circuits"]):
            where = f"trust.circuits[{index}]"
            item = _exact(raw, ("id", "versions"), where=where)
            cid = _text(item["id"], f"{where}.id")
            versions = item["versions"]
            if not isinstance(versions, list):
                raise InputError("must be a list of strings", field=f"{where}.versions")
            checked = [_text(v, f"{where}.versions[{i}]") for i, v in enumerate(versions)]
            if cid in circuits or len(set(checked)) != len(checked):
                raise InputError("duplicate circuit or version", field=where)
            circuits[cid] = checked
        return cls(
            keys=keys,
            profiles=profiles,
            circuits=circuits,
            max_age_seconds=_positive_int(doc["max_age_seconds"], "trust.max_age_seconds"),
            clock_skew_seconds=_positive_int(doc["clock_skew_seconds"], "trust.clock_skew_seconds"),
            witnesses_required=_witnesses(
                doc.get("witnesses_required", DEFAULT_WITNESSES_REQUIRED),
                "trust.witnesses_required",
            ),
            result_policy=ResultPolicy.from_dict(doc.get("result_policy", {})),
        )

    @staticmethod
    def _parse_key(raw: object, *, where: str) -> TrustedKey:
        item = _exact(raw, KEY_FIELDS, where=where)
        if item["kind"] not in TRUSTABLE_KINDS:
            raise InputError(f"must be one of {TRUSTABLE_KINDS}", field=f"{where}.kind")
        try:
            record = PublicKeyRecord.from_dict(
                {
                    "kind": item["kind"],
                    "key_id": item["key_id"],
                    "algorithm": item["algorithm"],
                    "public_key": item["public_key"],
                    "created": item["added_at"],
                },
                error=InputError,
            )
        except InputError as exc:
            field = "added_at" if exc.field == "created" else exc.field
            raise InputError(exc.message, field=f"{where}.{field}") from exc
        record = replace(record, created=None)
        added_at = parse_rfc3339(item["added_at"], field=f"{where}.added_at", error=InputError)
        revoked_at = (
            None
            if item["revoked_at"] is None
            else parse_rfc3339(item["revoked_at"], field=f"{where}.revoked_at", error=InputError)
        )
        note = _text(item["note"], f"{where}.note", limit=MAX_NOTE_CHARS, allow_empty=True)
        return TrustedKey(record=record, added_at=added_at, revoked_at=revoked_at, note=note)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrustStore:
        """Read a trust store file strictly (InputError naming the path and field)."""
        file_path = Path(path)
        try:
            data = read_small_file(
                file_path, limit=MAX_TRUST_STORE_BYTES, what="trust store", error=InputError
            )
            return cls.from_dict(strict_json_loads(data, what="trust store", error=InputError))
        except InputError as exc:
            message = (
                exc.message if str(file_path) in exc.message else f"{file_path}: {exc.message}"
            )
            raise InputError(message, field=exc.field) from exc

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the trust store atomically (temp file + rename)."""
        file_path = Path(path)
        try:
            write_file_atomic(
                file_path, canonical_json(self.to_dict()) + b"\n", mode=0o644, overwrite=True
            )
        except OSError as exc:
            raise InputError(f"cannot write trust store {file_path}: {exc}") from exc

    # --- mutation ---------------------------------------------------------------------------

    def add_key(
        self, record: PublicKeyRecord, *, note: str = "", at: datetime | None = None
    ) -> TrustedKey:
        """Trust ``record``. Idempotent for the same key and kind (the existing entry, with
        its revocation, is kept and returned); a different key or kind under the same key id
        raises InputError."""
        if record.kind not in TRUSTABLE_KINDS or record.algorithm != ALGORITHM:
            raise InputError(f"cannot trust a {record.kind}/{record.algorithm} key", field="kind")
        _text(note, "note", limit=MAX_NOTE_CHARS, allow_empty=True)
        existing = self._keys.get(record.key_id)
        if existing is not None:
            if (existing.record.public_key_raw, existing.record.kind) != (
                record.public_key_raw,
                record.kind,
            ):
                raise InputError(
                    f"key id {record.key_id[:16]}... is already trusted for a different "
                    f"key or kind ({existing.record.kind})",
                    field="key_id",
                )
            return existing
        entry = TrustedKey(
            record=replace(record, created=None), added_at=at or utc_now(), note=note
        )
        self._keys[record.key_id] = entry
        return entry

    def add_key_file(
        self,
        path: str | os.PathLike[str],
        *,
        note: str = "",
        kinds: tuple[str, ...] = TRUSTABLE_KINDS,
        holder: str = "this trust store",
        kind: str | None = None,
    ) -> tuple[TrustedKey, bool]:
        """Trust the public key file ``path`` (a ``*.pub.json``, or a PEM public key whose
        ``Kind:`` line or ``kind`` says whose key it is) if its kind is one of ``kinds``;
        returns (entry, whether it was already trusted). InputError names the field (``kind``
        for a key of another kind)."""
        record = load_public_key_file(path, kind=kind)
        if record.kind not in kinds:
            raise InputError(
                f"{path} is a {record.kind} key; {holder} trusts only {' and '.join(kinds)} keys",
                field="kind",
            )
        already = record.key_id in self._keys
        return self.add_key(record, note=note), already

    def revoke(self, key_id: str, *, at: datetime) -> TrustedKey:
        """Revoke ``key_id`` from ``at`` on. A revocation date can only move earlier."""
        format_rfc3339(at)  # rejects naive datetimes
        entry = self._keys.get(key_id)
        if entry is None:
            raise InputError(f"key {key_id[:16]}... is not in the trust store", field="key_id")
        if entry.revoked_at is None or at < entry.revoked_at:
            entry = replace(entry, revoked_at=at)
            self._keys[key_id] = entry
        return entry

    def allow_profile(self, name: str, profile_hash: str) -> None:
        parse_digest(profile_hash, field="hash", error=InputError)
        self._profiles[_text(name, "name")] = profile_hash

    def allow_circuit(self, circuit_id: str, version: str) -> None:
        versions = self._circuits.setdefault(_text(circuit_id, "id"), [])
        if _text(version, "version") not in versions:
            versions.append(version)

    # --- checks (raise; never return bool) --------------------------------------------------

    def require_key(self, key_id: str, *, kind: str, at: datetime) -> PublicKeyRecord:
        """The trusted key ``key_id`` of ``kind``, valid at ``at``.

        Steps: 1. the key id is in the store (UntrustedIssuerError); 2. its kind matches
        (UntrustedIssuerError: an evaluator key cannot sign as a client); 3. it was not revoked
        at ``at`` (RevokedKeyError if ``at >= revoked_at``).
        """
        format_rfc3339(at)  # rejects naive datetimes
        # 1. known
        entry = self._keys.get(key_id)
        if entry is None:
            raise UntrustedIssuerError(
                f"{kind} key {str(key_id)[:16]}... is not in the trust store", field="key_id"
            )
        # 2. kind
        if entry.record.kind != kind:
            raise UntrustedIssuerError(
                f"key {key_id[:16]}... is trusted as {entry.record.kind}, not as {kind}",
                field="key_id",
            )
        # 3. revocation
        if entry.revoked_at is not None and at >= entry.revoked_at:
            raise RevokedKeyError(
                f"{kind} key {key_id[:16]}... was revoked at {format_rfc3339(entry.revoked_at)}"
                f"; evidence is dated {format_rfc3339(at)}",
                field="key_id",
            )
        return entry.record

    def require_profile(self, name: str, profile_hash: str) -> None:
        """Steps: 1. the profile name is allowed; 2. its hash equals the allowed hash.
        Raises WrongParameterSetError."""
        allowed = self._profiles.get(name)
        if allowed is None:
            raise WrongParameterSetError(
                f"parameter profile {name!r:.80} is not allowed", field="profile_name"
            )
        if allowed != profile_hash:
            raise WrongParameterSetError(
                f"parameter profile {name!r} has hash {profile_hash!r:.80}, the trust store "
                f"allows {allowed}",
                field="profile_hash",
            )

    def require_circuit(self, circuit_id: str, version: str) -> None:
        """Steps: 1. the circuit id is allowed; 2. the version is allowed.
        Raises UnsupportedCircuitError."""
        versions = self._circuits.get(circuit_id)
        if versions is None:
            raise UnsupportedCircuitError(
                f"circuit {circuit_id!r:.80} is not allowed", field="circuit_id"
            )
        if version not in versions:
            raise UnsupportedCircuitError(
                f"circuit {circuit_id!r} version {version!r:.40} is not allowed "
                f"(allowed: {', '.join(versions) or 'none'})",
                field="circuit_version",
            )

    def require_fresh(self, at: datetime, *, now: datetime) -> None:
        """Steps: 1. ``at`` is not older than ``max_age_seconds`` before ``now``; 2. it is not
        more than ``clock_skew_seconds`` after ``now``. Raises StaleEvidenceError."""
        format_rfc3339(at)
        format_rfc3339(now)
        if now - at > timedelta(seconds=self.max_age_seconds):
            raise StaleEvidenceError(
                f"evidence dated {format_rfc3339(at)} is older than {self.max_age_seconds} s",
                field="time",
            )
        if at - now > timedelta(seconds=self.clock_skew_seconds):
            raise StaleEvidenceError(
                f"evidence dated {format_rfc3339(at)} is in the future (more than "
                f"{self.clock_skew_seconds} s after {format_rfc3339(now)})",
                field="time",
            )


def describe_trusted(entry: TrustedKey, *, already: bool) -> str:
    """One line for the CLIs: ``trusted: <kind> key <id>`` (or ``already trusted``), with its
    revocation if any."""
    state = "already trusted" if already else "trusted"
    revoked = "" if entry.revoked_at is None else f" (revoked at {entry.revoked_at.isoformat()})"
    return f"{state}: {entry.record.kind} key {entry.record.key_id}{revoked}"


def trusted_json(entry: TrustedKey, *, already: bool) -> dict[str, object]:
    """:func:`describe_trusted` as the CLIs' ``--json`` object."""
    return {
        "ok": True,
        "kind": entry.record.kind,
        "key_id": entry.record.key_id,
        "already_trusted": already,
        "revoked_at": None if entry.revoked_at is None else entry.revoked_at.isoformat(),
    }


__all__ = [
    "DEFAULT_CLOCK_SKEW_SECONDS",
    "DEFAULT_MAX_AGE_SECONDS",
    "DEFAULT_WITNESSES_REQUIRED",
    "KEY_FIELDS",
    "MAX_NOTE_CHARS",
    "MAX_TRUST_STORE_BYTES",
    "MAX_WITNESSES_REQUIRED",
    "OPTIONAL_STORE_FIELDS",
    "STORE_FIELDS",
    "TRUSTABLE_KINDS",
    "TRUST_STORE_VERSION",
    "TrustStore",
    "TrustedKey",
    "default_circuits",
    "describe_trusted",
    "trusted_json",
]
