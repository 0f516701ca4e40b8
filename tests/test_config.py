"""ReaderConfig: every option validated when it is made."""

from __future__ import annotations

from pathlib import Path

import pytest

from idreader import ConfigError, ReaderConfig
from idreader.config import DEFAULT_CONFIDENCE_THRESHOLD


def test_defaults():
    config = ReaderConfig()
    assert config.dpi == 200 and config.id_length is None and config.workers == 1
    assert config.confidence_threshold == DEFAULT_CONFIDENCE_THRESHOLD


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dpi": 50}, "dpi"),
        ({"dpi": 5000}, "dpi"),
        ({"id_length": 0}, "id_length"),
        ({"confidence_threshold": 1.5}, "confidence_threshold"),
        ({"ambiguity_margin": -0.1}, "ambiguity_margin"),
        ({"id_pattern": "[0-9"}, "id_pattern"),
        ({"off_list_prior": 0.0}, "off_list_prior"),
        ({"off_list_prior": 1.0}, "off_list_prior"),
        ({"check_digit": "luhn"}, "check_digit"),
        ({"workers": 0}, "workers"),
        ({"batch_pages": 0}, "batch_pages"),
    ],
)
def test_bad_values_raise_config_error_naming_the_option(options, message):
    with pytest.raises(ConfigError, match=message) as info:
        ReaderConfig(**options)
    assert info.value.exit_code == 2


def test_paths_are_converted_and_config_is_frozen_and_hashable(tmp_path):
    config = ReaderConfig(debug_dir=str(tmp_path), model_path=str(tmp_path / "m.onnx"))
    assert config.debug_dir == tmp_path and isinstance(config.model_path, Path)
    with pytest.raises(AttributeError):
        config.dpi = 300  # type: ignore[misc]
    assert hash(config) == hash(ReaderConfig(debug_dir=tmp_path, model_path=tmp_path / "m.onnx"))
