"""Shared fixtures: the real FDA/PhysioNet table, read and evaluated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

import onsight.config  # noqa: F401  (first: onsight.config.screening imports it; a cycle otherwise)
from onsight.thermal.evaluate import Evaluation, evaluate
from onsight.thermal.fda import FdaTable, read_fda_csv
from tests.conftest import assets_dir, require


@pytest.fixture(scope="session")
def fda_csv() -> Path:
    path = assets_dir() / "thermal" / "fda_physionet" / "FLIR_groups1and2.csv"
    return require(path, "FDA/PhysioNet facial + oral temperature table")


@pytest.fixture(scope="session")
def table(fda_csv: Path) -> FdaTable:
    return read_fda_csv(fda_csv)


@pytest.fixture(scope="session")
def result(table: FdaTable) -> Evaluation:
    return evaluate(table.subjects, table.skipped)
