"""One encryption, several uploads: the primary's ciphertexts shared with the witnesses' streams.

The client encrypts every ciphertext once, for the primary evaluator's upload
(:func:`regaudit.client.exchange.submit`). With witnesses, that upload reads its ciphertexts
through :meth:`CiphertextFanout.primary_source`, which publishes each one into a bounded window;
every witness's upload stream (:mod:`regaudit.client.witness`) reads the very same bytes from
that window with :meth:`CiphertextFanout.witness_source`. Memory stays bounded: the window holds
at most :data:`FANOUT_WINDOW_CIPHERTEXTS` ciphertexts, and the primary's stream waits while the
slowest witness still needs the oldest of them (its ``low`` mark). A witness whose job is not
yet admitted pins the window's start (ciphertext 0), so a witness that refuses at admission
(``server_busy``, a quota) can be retried from the start without encrypting anything again.

The window also makes the primary's own retries cheaper: a resubmission takes ciphertexts still
in the window from it rather than encrypting them afresh. If a retry needs a ciphertext that has
left the window, it must be encrypted again -- with fresh randomness, so different bytes than the
witnesses received -- and every witness still attached is detached (it fails with the reason
given) rather than left with inputs that differ from the primary's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from regaudit.client.encryption import EncryptedChunk, InputManifest, ManifestEntry

#: Ciphertexts the fan-out window holds (the primary's stream is at most this far ahead of the
#: slowest attached witness): 16 fresh ciphertexts at N=2^14 are about 12 MB.
FANOUT_WINDOW_CIPHERTEXTS = 16
#: How long a waiting stream sleeps between checks of its condition (seconds; it is also
#: woken by every change).
FANOUT_WAIT_SLICE_S = 0.5


@dataclass(frozen=True)
class _Item:
    column: str
    chunk: int
    data: bytes
    entry: ManifestEntry


class WitnessDetachedError(Exception):
    """A witness's stream was detached from the fan-out (the reason is the message)."""


class CiphertextFanout:
    """The primary's ciphertexts (``total`` in upload order), shared with attached witnesses."""

    def __init__(self, total: int, *, window: int = FANOUT_WINDOW_CIPHERTEXTS) -> None:
        if window < 1:
            raise ValueError("the fan-out window must hold at least one ciphertext")
        self.total = total
        self.window = window
        self._cond = threading.Condition()
        #: the ciphertexts in the window, by upload index
        self._items: dict[int, _Item] = {}
        #: how many ciphertexts the primary has published (indices 0 .. produced - 1)
        self._produced = 0
        #: attached witness -> the lowest index it may still need
        self._low: dict[str, int] = {}
        #: detached witness -> why
        self._detached: dict[str, str] = {}
        #: bumped by every primary attempt: an older attempt's stream stops publishing
        self._epoch = 0
        #: ciphertexts the primary's retries took from the window instead of encrypting them
        self.replayed = 0

    # --- witnesses ----------------------------------------------------------------------------

    def attach(self, name: str) -> None:
        """Attach witness ``name``: it pins the window's start until it advances."""
        with self._cond:
            self._low[name] = 0
            self._cond.notify_all()

    def detach(self, name: str, why: str) -> None:
        """Detach witness ``name`` (its stream ends; the primary no longer waits for it)."""
        with self._cond:
            if self._low.pop(name, None) is not None:
                self._detached[name] = why
            self._cond.notify_all()

    def detached_reason(self, name: str) -> str | None:
        """Why witness ``name`` was detached (None while attached)."""
        with self._cond:
            return self._detached.get(name)

    def holds(self, index: int) -> bool:
        """Whether ciphertext ``index`` can still be read (not yet produced, or in the window)."""
        with self._cond:
            return index >= self._produced or index in self._items

    def rewind(self, name: str, index: int) -> None:
        """Witness ``name`` restarts its upload at ``index`` (WitnessDetachedError if that
        ciphertext has left the window)."""
        with self._cond:
            if name not in self._low:
                raise WitnessDetachedError(self._detached.get(name, "detached"))
            if index < self._produced and index not in self._items:
                raise WitnessDetachedError(
                    f"ciphertext #{index} has left the fan-out window; it cannot be sent again "
                    "without encrypting it again"
                )
            self._low[name] = index
            self._cond.notify_all()

    def witness_source(
        self, name: str, start: int, *, admitted: Callable[[], bool]
    ) -> Iterator[EncryptedChunk]:
        """The ciphertexts from ``start`` on, for witness ``name``'s upload stream, once
        ``admitted()`` says its job was admitted (it returns False: send nothing). The stream
        ends early if the witness is detached."""
        if not admitted():
            return
        index = start
        while index < self.total:
            with self._cond:
                while True:
                    if name not in self._low:
                        return
                    if index < self._produced:
                        item = self._items.get(index)
                        break
                    self._cond.wait(FANOUT_WAIT_SLICE_S)
                if item is None:
                    reason = f"ciphertext #{index} left the fan-out window before it was sent"
                    self._low.pop(name, None)
                    self._detached[name] = reason
                    self._cond.notify_all()
                    raise WitnessDetachedError(reason)
                # admitted and reading: earlier ciphertexts may leave the window
                self._low[name] = index
                self._cond.notify_all()
            yield item.column, item.chunk, item.data
            index += 1

    # --- the primary --------------------------------------------------------------------------

    def primary_source(
        self,
        encrypt_from: Callable[[int], Iterator[EncryptedChunk]],
        *,
        skip: int,
        manifest: InputManifest,
    ) -> Iterator[EncryptedChunk]:
        """The primary's ciphertexts from ``skip`` on: those still in the window as they are
        (their manifest entries added to ``manifest``), then fresh ones from
        ``encrypt_from(index)`` (which appends its own entries to ``manifest``), each published
        to the witnesses before it is yielded. A ciphertext that left the window is encrypted
        again and every attached witness is detached."""
        with self._cond:
            self._epoch += 1
            epoch = self._epoch
            self._cond.notify_all()
        index = skip
        fresh: Iterator[EncryptedChunk] | None = None
        while index < self.total:
            with self._cond:
                if epoch != self._epoch:
                    return
                produced = self._produced
                # once encrypting afresh, this attempt never takes from the window again
                item = self._items.get(index) if index < produced and fresh is None else None
            if item is not None:
                manifest.add(item.entry)
                self.replayed += 1
                yield item.column, item.chunk, item.data
                index += 1
                continue
            if index < produced and fresh is None:
                self._detach_all(
                    "the primary's upload was interrupted and ciphertexts the witnesses "
                    "already received had to be encrypted again (different bytes)"
                )
            if fresh is None:
                fresh = encrypt_from(index)
            produced_item = next(fresh, None)
            if produced_item is None:
                return
            column, chunk, data = produced_item
            if index >= produced and not self._publish(
                epoch, index, _Item(column, chunk, data, manifest.entries[-1])
            ):
                return
            yield column, chunk, data
            index += 1

    def _publish(self, epoch: int, index: int, item: _Item) -> bool:
        """Put ciphertext ``index`` in the window once no attached witness needs the one it
        evicts; False if a newer primary attempt started meanwhile."""
        with self._cond:
            while True:
                if epoch != self._epoch:
                    return False
                if not self._low or index < min(self._low.values()) + self.window:
                    break
                self._cond.wait(FANOUT_WAIT_SLICE_S)
            self._items[index] = item
            self._items.pop(index - self.window, None)
            self._produced = max(self._produced, index + 1)
            self._cond.notify_all()
            return True

    def _detach_all(self, why: str) -> None:
        with self._cond:
            for name in list(self._low):
                self._detached[name] = why
            self._low.clear()
            self._cond.notify_all()

    def close(self) -> None:
        """Release every waiting stream (the audit is over or failed) and drop the window."""
        with self._cond:
            self._epoch += 1
            self._detach_all("the audit ended")
            self._items.clear()


__all__ = [
    "FANOUT_WAIT_SLICE_S",
    "FANOUT_WINDOW_CIPHERTEXTS",
    "CiphertextFanout",
    "WitnessDetachedError",
]
