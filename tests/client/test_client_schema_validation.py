"""Every JSON input is checked against its primitive's published schema."""

from __future__ import annotations

import pytest

from regaudit.shared import schemas
from regaudit.shared.errors import InputError


def _fairness(rows: int) -> dict[str, object]:
    return {
        "y_true": [1, 0] * (rows // 2),
        "y_pred": [0, 1] * (rows // 2),
        "group_a": [1, 0] * (rows // 2),
        "group_b": [0, 1] * (rows // 2),
        "threshold": 0.1,
    }


def test_small_documents_are_validated_element_by_element() -> None:
    document = _fairness(100)
    document["y_true"][7] = 2  # type: ignore[index]
    with pytest.raises(InputError) as info:
        schemas.validate_document("fairness.input", document)
    assert info.value.field == "/y_true/7"


def test_large_documents_are_validated_by_shape() -> None:
    rows = schemas.FULL_VALIDATION_MAX_ITEMS  # 4 columns: well above the full-validation limit
    document = _fairness(rows)
    document["y_true"][7] = 2  # type: ignore[index]
    # element rules are left to the parser above the limit...
    schemas.validate_document("fairness.input", document)
    # ...but keys, types and sizes are still enforced
    document["unexpected"] = True
    with pytest.raises(InputError) as info:
        schemas.validate_document("fairness.input", document)
    assert info.value.field == "/unexpected"
    del document["unexpected"]
    document["threshold"] = "high"
    with pytest.raises(InputError) as info:
        schemas.validate_document("fairness.input", document)
    assert info.value.field == "/threshold"
