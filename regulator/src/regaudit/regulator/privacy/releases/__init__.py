"""The DP release of each primitive, one module each (re-exported by
:mod:`regaudit.regulator.privacy.primitives`)."""
