"""Shared fixtures: committed MNIST test digits (tests/data, see its README)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from chromium import Browser

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    """The first 2,000 MNIST test digits: uint8 (2000, 28, 28) images and their labels."""
    with np.load(DATA / "mnist_test_2000.npz") as data:
        return data["images"], data["labels"]


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """A real headless Chromium (fails, never skips, when it is not installed)."""
    chromium = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()
