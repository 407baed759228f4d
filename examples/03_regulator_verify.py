"""The regulator's side as a library: verify the bundle written by example 02 (every
signature and binding, the key canary), decrypt the aggregates and print the report.

    python examples/03_regulator_verify.py [WORKDIR]     # default: ./example-run
"""

from __future__ import annotations

import sys
from pathlib import Path

from regaudit.regulator.report import render_html, render_text, result_json
from regaudit.regulator.verify import verify_bundle
from regaudit.secretkey.sealing import RegulatorKeys
from regaudit.shared.bundle import AuditBundle
from regaudit.shared.errors import VerificationError
from regaudit.shared.evidence.truststore import TrustStore


def main(workdir: Path) -> dict[str, object]:
    keys = RegulatorKeys.load(workdir / "regulator")
    trust = TrustStore.load(workdir / "trust.json")
    bundle = AuditBundle.read(workdir / "concordance.bundle")
    try:
        verified = verify_bundle(bundle, regulator_keys=keys, trust=trust)
    except VerificationError as error:  # typed: untrusted issuer, bad signature, digest...
        print(f"REJECTED: {error.reason}: {error}")
        raise SystemExit(1) from None
    print(render_text(verified), end="")
    (workdir / "concordance-report.html").write_text(render_html(verified), encoding="utf-8")
    document = result_json(verified)
    print(f"c_index = {document['result']['c_index']:.5f}")  # type: ignore[index]
    return document


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("example-run"))
