"""The three parties as the command lines create them: regulator, evaluator and client
identities (``init``), the regulator's trust store, and a running evaluator daemon."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from support.cli import cli
from support.daemon import start_evaluator, stop_evaluator


def key_id(public_key_file: Path) -> str:
    """key_id of a ``<kind>.pub.json`` file."""
    value = json.loads(public_key_file.read_text())["key_id"]
    assert isinstance(value, str)
    return value


def pin_options(evaluator_dir: Path, regulator_dir: Path) -> list[str]:
    """``--pin-evaluator KEY_ID --pin-regulator KEY_ID`` for identities made by ``init``."""
    return [
        "--pin-evaluator",
        key_id(evaluator_dir / "evaluator.pub.json"),
        "--pin-regulator",
        key_id(regulator_dir / "regulator.pub.json"),
    ]


@dataclass
class Identities:
    """``root/{regulator,evaluator,client}`` made by each role's ``init``, and the regulator's
    trust store ``root/trust.json`` trusting the evaluator and the client."""

    root: Path
    regulator: Path
    evaluator: Path
    client: Path
    trust: Path

    @property
    def card(self) -> Path:
        return self.regulator / "regulator-card.json"

    @property
    def pins(self) -> list[str]:
        """The client's trust anchors: the evaluator's receipt key and the regulator's
        card-signing key, as printed by their ``init`` (key_id of their .pub.json)."""
        return pin_options(self.evaluator, self.regulator)


def make_identities(root: Path) -> Identities:
    """Create the three identities and the regulator's trust store under ``root``."""
    regulator, evaluator, client = root / "regulator", root / "evaluator", root / "client"
    trust = root / "trust.json"
    cli("regulator", "init", regulator, check=True)
    cli("evaluator", "init", evaluator, check=True)
    cli("client", "init", client, check=True)
    cli("regulator", "trust", "add", evaluator / "evaluator.pub.json", "--trust", trust, check=True)
    cli("regulator", "trust", "add", client / "client.pub.json", "--trust", trust, check=True)
    return Identities(root, regulator, evaluator, client, trust)


@dataclass
class Parties(Identities):
    """The identities and a running evaluator daemon (store ``root/store``) at ``address``."""

    address: str
    daemon: subprocess.Popen[str]

    @classmethod
    def start(cls, root: Path) -> Self:
        """:func:`make_identities`, then the evaluator daemon; :meth:`stop` it afterwards."""
        identities = make_identities(root)
        daemon, address = start_evaluator(identities.evaluator, root / "store")
        return cls(
            identities.root,
            identities.regulator,
            identities.evaluator,
            identities.client,
            identities.trust,
            address,
            daemon,
        )

    def stop(self) -> None:
        stop_evaluator(self.daemon)

    def audit(
        self, input_file: Path, out: Path, *extra: str, pin: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``regaudit-client audit fairness`` with both keys pinned (``pin=False``: none)."""
        return cli(
            "client",
            "audit",
            "fairness",
            "--input",
            input_file,
            "--evaluator",
            self.address,
            "--regulator-card",
            self.card,
            "--identity",
            self.client,
            "--out",
            out,
            *(self.pins if pin else []),
            *extra,
        )

    def verify(
        self,
        bundle: Path,
        *extra: str | Path,
        trust: Path | None = None,
        identity: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``regaudit-regulator verify BUNDLE --json`` with the regulator's identity and trust."""
        return cli(
            "regulator",
            "verify",
            bundle,
            "--identity",
            identity or self.regulator,
            "--trust",
            trust or self.trust,
            "--json",
            *extra,
        )


__all__ = ["Identities", "Parties", "key_id", "make_identities", "pin_options"]
