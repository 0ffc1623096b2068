"""One real credit model and its reference profile per session, shared by the drift tests."""

from __future__ import annotations

import pytest
from drift_helpers import CreditModel, fit_credit_model

from driftloop.drift.rules import RulesFile, load_rules


@pytest.fixture(scope="session")
def credit_model() -> CreditModel:
    return fit_credit_model()


@pytest.fixture(scope="session")
def default_rules() -> RulesFile:
    return load_rules()
