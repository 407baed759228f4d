"""Test-session set-up shared by every test directory."""

from __future__ import annotations

from regaudit.shared.custody import allow_secret_key_code_in_this_process

# Many tests run the client, the evaluator daemon (and in-process Dask workers) and the
# regulator in this one pytest process, so secret-key code and the keyless daemon share it on
# purpose. Spawned evaluator workers do not inherit this allowance and stay checked;
# tests/engine/test_engine_custody.py checks the daemon and workers in fresh processes.
allow_secret_key_code_in_this_process("pytest: every party runs in the test process")
