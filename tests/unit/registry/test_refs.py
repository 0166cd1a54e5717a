"""The one parser of model URIs."""

from __future__ import annotations

import pytest

from retrain.registry import ModelUri, RegistryError, parse_model_uri, version_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/m/3", ModelUri("models:/m/3", name="m", version="3")),
        ("models:/my.model-x/12", ModelUri("models:/my.model-x/12", name="my.model-x", version="12")),
        ("models:/m@champion", ModelUri("models:/m@champion", name="m", alias="champion")),
        ("models:/m/latest", ModelUri("models:/m/latest", name="m", version="latest")),
        ("models:/m-0123abc", ModelUri("models:/m-0123abc", model_id="m-0123abc")),
        ("runs:/abc123/model", ModelUri("runs:/abc123/model", run_id="abc123")),
        ("/tmp/some/model", ModelUri("/tmp/some/model")),
        ("file:///tmp/some/model", ModelUri("file:///tmp/some/model")),
    ],
)
def test_parse_model_uri(uri: str, expected: ModelUri) -> None:
    assert parse_model_uri(uri) == expected
    assert parse_model_uri(uri).in_registry == (expected.name is not None)


@pytest.mark.parametrize("uri", ["models:/m/v3", "models:/", "models:/m@", "models:/@champion", "models:/m@a/b"])
def test_malformed_models_uri_is_refused(uri: str) -> None:
    with pytest.raises(RegistryError, match="not understood: use models:/NAME/VERSION"):
        parse_model_uri(uri)


def test_version_uri_round_trips() -> None:
    assert version_uri("m", 3) == "models:/m/3"
    assert parse_model_uri(version_uri("m", "3")).version == "3"
