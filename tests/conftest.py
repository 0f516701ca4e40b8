"""Shared fixtures: committed MNIST test digits (tests/data, see its README)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from chromium import Browser

from idreader.synth import DigitBank, Distortion, Layout, make_page

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


@pytest.fixture(scope="session")
def scanned_pages(mnist) -> Callable[..., list[np.ndarray]]:
    """Make mildly distorted scanned covers ("table" layout), one page per ID.

    ``scanned_pages(ids, seed=, bank_seed=None, skew=2.0, blur=0.5, noise=3.0)``: the
    handwriting comes from the MNIST test slice; ``bank_seed=None`` draws digits with the
    page generator itself.
    """
    images, labels = mnist

    def make(
        ids: Sequence[str],
        *,
        seed: int,
        bank_seed: int | None = None,
        skew: float = 2.0,
        blur: float = 0.5,
        noise: float = 3.0,
    ) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        bank_rng = rng if bank_seed is None else np.random.default_rng(bank_seed)
        bank = DigitBank(images, labels, rng=bank_rng)
        return [
            make_page(
                sid,
                bank,
                layout=Layout(kind="table"),
                distortion=Distortion(skew=float(rng.uniform(-skew, skew)), blur=blur, noise=noise),
                rng=rng,
            ).image
            for sid in ids
        ]

    return make
