"""Input-validation assertions shared by the primitives' tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from regaudit.shared.errors import InputError


def assert_rejects_field(
    parse: Callable[[dict[str, Any]], object],
    payload: dict[str, Any],
    change: dict[str, object],
    field: str,
) -> None:
    """``payload`` with ``change`` applied (None removes a key) is refused by ``parse`` with an
    InputError naming ``field``."""
    changed = dict(payload)
    for key, value in change.items():
        if value is None:
            changed.pop(key, None)
        else:
            changed[key] = value
    with pytest.raises(InputError) as error:
        parse(changed)
    assert error.value.field == field


__all__ = ["assert_rejects_field"]
