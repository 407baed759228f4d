"""regaudit regulator: unseals the CKKS secret key, verifies every signature and binding of an
audit bundle, decrypts aggregates only and writes the report.

Public API::

    from regaudit.regulator import verify_bundle, VerifiedAudit, ReplayGuard
    from regaudit.regulator.report import render_text, render_html, result_json
"""

from __future__ import annotations

from regaudit.regulator.replay import ReplayGuard
from regaudit.regulator.verify import VerifiedAudit, verify_bundle

__all__ = ["ReplayGuard", "VerifiedAudit", "verify_bundle"]
