"""The contract-compiled validator, without HTTP: every refusal names record, column and reason."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scoring_bundles import credit_records

from driftloop.registry import Registry
from driftloop_scoring.errors import PayloadTooLargeError, RecordValidationError
from driftloop_scoring.validation import RecordValidator


@pytest.fixture(scope="module")
def validator(registry: Registry) -> RecordValidator:
    return RecordValidator(registry.resolve("credit").contract, max_records=10)


def problems(validator: RecordValidator, records: Any) -> list[dict[str, Any]]:
    with pytest.raises(RecordValidationError) as caught:
        validator.validate(records)
    details: list[dict[str, Any]] = caught.value.details
    return details


def test_valid_records_become_one_n_by_1_feed_per_column(validator: RecordValidator) -> None:
    records = credit_records(3)
    batch = validator.validate(records)
    assert batch.size == 3
    assert list(batch.feeds) == [column.name for column in validator.columns]
    assert batch.feeds["age"].dtype == np.float32
    assert batch.feeds["age"].shape == (3, 1)
    assert batch.feeds["age"].flags["C_CONTIGUOUS"]
    assert batch.feeds["region"].dtype == object
    assert batch.feeds["region"][:, 0].tolist() == [record["region"] for record in records]


def test_missing_nullable_values_become_nan_and_empty_category(validator: RecordValidator) -> None:
    record = credit_records(1)[0]
    record["income"] = None
    del record["savings"]
    record["employment_type"] = None
    batch = validator.validate([record])
    assert math.isnan(float(batch.feeds["income"][0, 0]))
    assert math.isnan(float(batch.feeds["savings"][0, 0]))
    assert batch.feeds["employment_type"][0, 0] == ""


def test_numbers_as_text_and_integral_categories_are_coerced(validator: RecordValidator) -> None:
    record = credit_records(1)[0]
    record["age"] = "41.5"
    record["loan_term_months"] = 36
    batch = validator.validate([record])
    assert float(batch.feeds["age"][0, 0]) == 41.5
    assert float(batch.feeds["loan_term_months"][0, 0]) == 36.0


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("age", "forty", "'forty' cannot be read as a number"),
        ("age", True, "expected a number, got a boolean"),
        ("age", [1], "expected a number, got a list"),
        ("age", {"v": 1}, "expected a number, got an object"),
        ("age", 1e39, "is not a finite float32 number"),
        ("age", "nan", "is not a finite float32 number"),
        ("age", 10**400, "is too large for a float32 number"),
        ("age", None, "may not be null"),
        ("region", ["north"], "expected a category (text), got a list"),
        ("region", None, "may not be null"),
    ],
)
def test_a_bad_value_is_named(validator: RecordValidator, column: str, value: Any, reason: str) -> None:
    records = credit_records(2)
    records[1][column] = value
    assert problems(validator, records) == [{"record": 1, "column": column, "reason": reason}]


def test_missing_required_column(validator: RecordValidator) -> None:
    record = credit_records(1)[0]
    del record["credit_score"], record["age"]
    assert problems(validator, [record]) == [{"record": 0, "column": "age", "reason": "is required"}]
    # credit_score may be missing in training (nullable), so it is not required.


def test_extra_columns_rejected_or_ignored(registry: Registry) -> None:
    contract = registry.resolve("credit").contract
    record = {**credit_records(1)[0], "customer_name": "Ada", "default": 1}
    rejecting = RecordValidator(contract, extra_columns="reject")
    assert problems(rejecting, [record]) == [
        {"record": 0, "column": "customer_name", "reason": "not an input of this model"}
    ]  # the target ("default") is tolerated
    assert RecordValidator(contract, extra_columns="ignore").validate([record]).size == 1


def test_not_a_list_not_an_object_empty_and_oversize(validator: RecordValidator) -> None:
    assert problems(validator, {"age": 1}) == [{"field": "records", "reason": "not a list"}]
    assert problems(validator, [1]) == [{"record": 0, "column": None, "reason": "a record must be a JSON object"}]
    assert problems(validator, []) == [{"reason": "empty batch"}]
    with pytest.raises(PayloadTooLargeError) as caught:
        validator.validate(credit_records(11))
    assert caught.value.status_code == 413


def test_problems_are_capped_and_summarised(registry: Registry) -> None:
    validator = RecordValidator(registry.resolve("credit").contract, max_details=5)
    with pytest.raises(RecordValidationError) as caught:
        validator.validate([{"age": "x"}] * 20)
    assert len(caught.value.details) == 5
    assert caught.value.message == "record 0, column 'age': 'x' cannot be read as a number (and 4 more)"


def test_unseen_categories_and_out_of_range_numbers_are_valid_and_reported(validator: RecordValidator) -> None:
    records = credit_records(2)
    records[0]["region"] = "atlantis"
    records[1]["age"] = 150
    batch = validator.validate(records)
    assert batch.unseen == [
        {"record": 0, "column": "region", "reason": "category"},
        {"record": 1, "column": "age", "reason": "range"},
    ]


def test_column_wise_input_is_checked_the_same_way(validator: RecordValidator) -> None:
    records = credit_records(2)
    tensors = {name: [record[name] for record in records] for name in records[0]}
    assert validator.validate_columns(tensors, 2).size == 2
    tensors["age"] = [30, "old"]
    with pytest.raises(RecordValidationError) as caught:
        validator.validate_columns(tensors, 2)
    assert caught.value.details == [{"record": 1, "column": "age", "reason": "'old' cannot be read as a number"}]
