"""The client's resume journal: the secret key sealed at rest under the identity, every field
bound by the seal, a write-ahead log that survives a torn line, one process at a time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from regaudit.client.encryption import ManifestEntry
from regaudit.client.resume_journal import (
    JournalContent,
    ResumeJournal,
    ResumeJournalError,
    input_digest,
    journal_directory,
)
from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared.errors import InputError
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.profiles import PROFILE_N8192_D3

CLIENT = SigningIdentity.generate("client")


@pytest.fixture(scope="module")
def keys() -> ClientKeys:
    return ClientKeys.generate(PROFILE_N8192_D3, galois_steps=(1, 2))


def content(keys: ClientKeys, **changes: object) -> JournalContent:
    fields: dict[str, object] = {
        "idempotency_key": "run-7",
        "client_key_id": CLIENT.key_id,
        "audit_id": "a1b2",
        "canary_seed": bytes(range(32)),
        "primitive": "fairness",
        "plan_digest": "sha256:" + "1" * 64,
        "public_digest": "sha256:" + "2" * 64,
        "input_digest": "sha256:" + "3" * 64,
        "regulator_key_id": "r" * 16,
        "evaluation_keys_digest": keys.evaluation_keys().digest,
        "profile_name": PROFILE_N8192_D3.name,
        "galois_steps": keys.evaluation_keys().galois_steps,
    }
    fields.update(changes)
    return JournalContent(**fields)  # type: ignore[arg-type]


def create(tmp_path: Path, keys: ClientKeys) -> Path:
    directory = journal_directory(tmp_path, client_key_id=CLIENT.key_id, idempotency_key="run-7")
    journal = ResumeJournal.create(
        directory,
        content(keys),
        identity=CLIENT,
        secret_key=keys.secret_key_bytes(),
        evaluation_keys=keys.evaluation_keys(),
    )
    journal.record(ManifestEntry("__canary__", 0, "sha256:" + "a" * 64, 100))
    journal.record(ManifestEntry("y_true", 0, "sha256:" + "b" * 64, 200))
    journal.close()
    return directory


def test_round_trip_restores_keys_that_decrypt_what_the_old_ones_encrypted(
    tmp_path: Path, keys: ClientKeys
) -> None:
    directory = create(tmp_path, keys)
    assert keys.secret_key_bytes() not in (directory / "journal.json").read_bytes()
    assert (directory / "journal.json").stat().st_mode & 0o077 == 0
    loaded = ResumeJournal.load(directory, identity=CLIENT)
    assert loaded is not None
    journal, secret_key, evaluation_keys = loaded
    with journal:
        assert journal.content == content(keys)
        assert [e.column for e in journal.sent()] == ["__canary__", "y_true"]
        restored = ClientKeys.restore(PROFILE_N8192_D3, secret_key, evaluation_keys)
        ciphertext = keys.encrypt([0.25, 0.5], level=1)
        assert np.allclose(restored.decryptor().decrypt(ciphertext, level=1)[:2], [0.25, 0.5])
        assert restored.evaluation_keys().digest == keys.evaluation_keys().digest


def test_no_journal_is_none(tmp_path: Path) -> None:
    assert ResumeJournal.load(tmp_path / "nothing", identity=CLIENT) is None


@pytest.mark.parametrize("field", ["audit_id", "input_digest", "canary_seed", "plan_digest"])
def test_any_altered_field_breaks_the_seal(tmp_path: Path, keys: ClientKeys, field: str) -> None:
    directory = create(tmp_path, keys)
    path = directory / "journal.json"
    document = json.loads(path.read_text())
    document[field] = "AAAA" if field == "canary_seed" else document[field] + "0"
    path.write_text(json.dumps(document))
    with pytest.raises(ResumeJournalError, match="altered") as info:
        ResumeJournal.load(directory, identity=CLIENT)
    assert info.value.reason == "resume_journal_invalid"
    assert info.value.exit_code == 1


def test_another_identity_can_neither_use_nor_open_it(tmp_path: Path, keys: ClientKeys) -> None:
    directory = create(tmp_path, keys)
    with pytest.raises(ResumeJournalError, match="belongs to client key"):
        ResumeJournal.load(directory, identity=SigningIdentity.generate("client"))
    # an identity that rewrites the key id still cannot open the seal
    other = SigningIdentity.generate("client")
    path = directory / "journal.json"
    document = json.loads(path.read_text())
    document["client_key_id"] = other.key_id
    path.write_text(json.dumps(document))
    with pytest.raises(ResumeJournalError, match="altered"):
        ResumeJournal.load(directory, identity=other)


def test_swapped_evaluation_keys_are_refused(tmp_path: Path, keys: ClientKeys) -> None:
    directory = create(tmp_path, keys)
    other = ClientKeys.generate(PROFILE_N8192_D3, galois_steps=(1, 2)).evaluation_keys()
    (directory / "galois.bin").write_bytes(other.galois_keys)
    with pytest.raises(ResumeJournalError, match="evaluation keys were altered"):
        ResumeJournal.load(directory, identity=CLIENT)


def test_a_torn_last_line_is_left_out(tmp_path: Path, keys: ClientKeys) -> None:
    directory = create(tmp_path, keys)
    with (directory / "sent.log").open("a") as log:
        log.write("y_pred\t0\tsha256:cc")  # killed mid-write
    loaded = ResumeJournal.load(directory, identity=CLIENT)
    assert loaded is not None
    with loaded[0] as journal:
        assert len(journal.sent()) == 2


def test_a_rerun_on_other_input_is_refused(tmp_path: Path, keys: ClientKeys) -> None:
    directory = create(tmp_path, keys)
    loaded = ResumeJournal.load(directory, identity=CLIENT)
    assert loaded is not None
    with loaded[0] as journal:
        journal.check_matches(content(keys))
        with pytest.raises(InputError, match="input differs") as info:
            journal.check_matches(content(keys, input_digest="sha256:" + "4" * 64))
        assert info.value.field == "idempotency_key" and info.value.exit_code == 2
        with pytest.raises(InputError, match="regulator card differs"):
            journal.check_matches(content(keys, regulator_key_id="s" * 16))


def test_one_process_at_a_time(tmp_path: Path, keys: ClientKeys) -> None:
    directory = create(tmp_path, keys)
    loaded = ResumeJournal.load(directory, identity=CLIENT)
    assert loaded is not None
    with loaded[0], pytest.raises(InputError, match="another client process"):
        ResumeJournal.load(directory, identity=CLIENT)
    again = ResumeJournal.load(directory, identity=CLIENT)
    assert again is not None
    again[0].discard()
    assert not directory.exists()


def test_input_digest_sees_every_value_and_the_chunking() -> None:
    a = {"x": np.array([1.0, 2.0]), "y": np.array([0.0, 1.0])}
    b = {"x": np.array([1.0, 2.0]), "y": np.array([0.0, 1.0 + 1e-12])}
    assert input_digest([a]) == input_digest([dict(a)])
    assert input_digest([a]) != input_digest([b])
    assert input_digest([a]) != input_digest([a, a])
