"""The canonical content of a serialized CKKS ciphertext, and its digest.

Evaluators return ciphertexts as SEAL serializes them: a 16-byte SEAL header, then the
ciphertext's members compressed with zstd (SEAL's default; ``tenseal.sealapi`` offers no other
mode). Compressed bytes depend on the compressor's build and settings, so two evaluators that
computed the very same ciphertext may return different bytes. Comparisons between evaluators
(witnesses, determinism tests) therefore use the digest of the *content*, which is the same for
the same ciphertext whatever the compression:

    "regaudit/ckks-ciphertext-content/v1" 0x00
    parms_id (4 x u64) || is_ntt_form (u8) || size (u64) || poly_modulus_degree (u64)
    || coeff_modulus_size (u64) || scale (f64) || correction_factor (u64)
    || coefficients (size x coeff_modulus_size x poly_modulus_degree x u64)

i.e. SEAL 4's uncompressed ``Ciphertext`` members (little endian) with the header of the nested
coefficient array (which carries SEAL's serialization version) left out. Only these bytes are
read; the framing around them is checked strictly (:func:`ciphertext_content`). No SEAL object
is created: the client, the regulator and tests can digest ciphertexts they never load.
"""

from __future__ import annotations

import hashlib
import io
import struct

from regaudit.shared.errors import CiphertextError

#: Domain tag of the canonical content (part of every content digest).
CONTENT_DOMAIN = b"regaudit/ckks-ciphertext-content/v1\x00"
#: The largest decompressed ciphertext accepted (N = 2^15 with 16 primes, two polynomials, is
#: 8 MiB); a zstd frame inflating beyond it is refused without being read further.
MAX_CONTENT_BYTES = 32 * 1024 * 1024

_SEAL_HEADER = struct.Struct("<HBBBBHQ")
_SEAL_MAGIC = 0xA15E
_COMPR_NONE = 0
_COMPR_ZSTD = 2
#: parms_id, is_ntt_form, size, poly_modulus_degree, coeff_modulus_size, scale,
#: correction_factor
_MEMBERS = struct.Struct("<4QBQQQdQ")
_COUNT = struct.Struct("<Q")


def _body(data: bytes) -> bytes:
    """The decompressed members after the outer SEAL header.

    Steps: 1. the outer header is SEAL's with the object's exact size; 2. compression none
    (the body as is) or zstd (inflated, at most :data:`MAX_CONTENT_BYTES`, every frame read)."""
    # 1. outer header
    if len(data) < _SEAL_HEADER.size:
        raise CiphertextError("serialized ciphertext is shorter than a SEAL header")
    magic, header_size, _major, _minor, compression, _reserved, size = _SEAL_HEADER.unpack_from(
        data
    )
    if magic != _SEAL_MAGIC or header_size != _SEAL_HEADER.size:
        raise CiphertextError("not a SEAL serialization (bad magic or header size)")
    if size != len(data):
        raise CiphertextError(f"SEAL header declares {size} bytes, the object has {len(data)}")
    # 2. decompression
    if compression == _COMPR_NONE:
        return bytes(data[_SEAL_HEADER.size :])
    if compression != _COMPR_ZSTD:
        raise CiphertextError(f"unsupported SEAL compression mode {compression}")
    import zstandard

    try:
        reader = zstandard.ZstdDecompressor().stream_reader(
            io.BytesIO(data[_SEAL_HEADER.size :]), read_across_frames=True
        )
        with reader:
            body = reader.read(MAX_CONTENT_BYTES + 1)
    except zstandard.ZstdError as exc:
        raise CiphertextError(f"malformed zstd data in a SEAL ciphertext: {exc}") from None
    if len(body) > MAX_CONTENT_BYTES:
        raise CiphertextError(f"ciphertext inflates beyond {MAX_CONTENT_BYTES} bytes")
    return body


def ciphertext_content(data: bytes) -> bytes:
    """The canonical content of a serialized (compressed or not) SEAL ciphertext, as defined in
    the module docstring. Raises CiphertextError unless the framing is exactly SEAL 4's.

    Steps: 1. outer header and decompression (:func:`_body`); 2. the member prefix; 3. the
    nested coefficient array: SEAL header without compression, its declared size, and exactly
    ``size x coeff_modulus_size x poly_modulus_degree`` coefficients, nothing after them."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CiphertextError(f"ciphertext must be bytes, got {type(data).__name__}")
    body = _body(bytes(data))
    # 2. members
    if len(body) < _MEMBERS.size + _SEAL_HEADER.size + _COUNT.size:
        raise CiphertextError("SEAL ciphertext body is too short")
    members = _MEMBERS.unpack_from(body)
    polys, degree, primes = members[5], members[6], members[7]
    # 3. nested coefficient array
    offset = _MEMBERS.size
    magic, header_size, _major, _minor, compression, _reserved, size = _SEAL_HEADER.unpack_from(
        body, offset
    )
    if magic != _SEAL_MAGIC or header_size != _SEAL_HEADER.size or compression != _COMPR_NONE:
        raise CiphertextError("unexpected framing of the ciphertext's coefficient array")
    (count,) = _COUNT.unpack_from(body, offset + _SEAL_HEADER.size)
    start = offset + _SEAL_HEADER.size + _COUNT.size
    if count != polys * degree * primes:
        raise CiphertextError(
            f"coefficient array of {count} values, expected {polys} x {primes} x {degree}"
        )
    if size != _SEAL_HEADER.size + _COUNT.size + 8 * count or len(body) != start + 8 * count:
        raise CiphertextError("the ciphertext's coefficient array has the wrong length")
    return CONTENT_DOMAIN + body[: _MEMBERS.size] + body[start:]


def ciphertext_content_digest(data: bytes) -> str:
    """``"sha256:<hex>"`` of :func:`ciphertext_content` (CiphertextError if malformed)."""
    return "sha256:" + hashlib.sha256(ciphertext_content(data)).hexdigest()


def seal_serialization_version(data: bytes) -> str:
    """``"<major>.<minor>"`` of the SEAL build that wrote ``data`` (from its header)."""
    if len(data) < _SEAL_HEADER.size:
        raise CiphertextError("serialized object is shorter than a SEAL header")
    magic, _size, major, minor, _mode, _reserved, _total = _SEAL_HEADER.unpack_from(data)
    if magic != _SEAL_MAGIC:
        raise CiphertextError("not a SEAL serialization (bad magic)")
    return f"{major}.{minor}"


__all__ = [
    "CONTENT_DOMAIN",
    "MAX_CONTENT_BYTES",
    "ciphertext_content",
    "ciphertext_content_digest",
    "seal_serialization_version",
]
