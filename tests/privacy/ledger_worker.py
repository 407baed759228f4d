"""A separate process spending privacy budget, for tests/privacy/test_privacy_concurrency.py.

Usage: ``python ledger_worker.py IDENTITY AUDIT.pickle EPSILON HOLD_SECONDS READY GO``. Loads the
verified audit, writes READY, waits for GO to exist, then releases it with ``apply_release``
(HOLD_SECONDS 0) or charges the ledger directly and holds the transaction open HOLD_SECONDS
(forcing the two processes to overlap). Prints one JSON line: ``{"ok": true}`` or the reason.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from pathlib import Path

from regaudit.regulator.privacy import PrivacyLedger, ReleaseRequest, apply_release
from regaudit.shared.errors import RegauditError

#: Seconds a worker waits for the go signal before giving up.
GO_TIMEOUT_SECONDS = 60.0


def main(argv: list[str]) -> int:
    identity, audit_path, epsilon_text, hold_text, ready, go = argv
    audit = pickle.loads(Path(audit_path).read_bytes())  # noqa: S301 - written by the test
    epsilon, hold = float(epsilon_text), float(hold_text)
    Path(ready).touch()
    deadline = time.monotonic() + GO_TIMEOUT_SECONDS
    while not Path(go).exists():
        if time.monotonic() > deadline:
            return 2
        time.sleep(0.005)
    try:
        with PrivacyLedger.for_identity(identity) as ledger:
            if hold == 0:
                apply_release(audit, request=ReleaseRequest(epsilon), ledger=ledger)
            else:
                with ledger.charge(
                    client=audit.submission.client_key_id,
                    dataset="(undeclared)",
                    epsilon=epsilon,
                    delta=0.0,
                    audit_id=audit.audit_id,
                    bundle_digest=audit.bundle_digest,
                    primitive=audit.primitive,
                    mechanism="test",
                ):
                    time.sleep(hold)
    except RegauditError as error:
        print(json.dumps({"ok": False, "reason": error.reason}))
        return 0
    print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
