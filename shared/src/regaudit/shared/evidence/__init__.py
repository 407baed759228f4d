"""Evidence: canonical JSON, DSSE envelopes over Ed25519, in-toto statements, hiding input
commitments, HPKE sealing of the CKKS secret key, signing identities and the trust store.

Import the submodules directly (``from regaudit.shared.evidence.dsse import verify_envelope``).
"""

__all__: list[str] = []
