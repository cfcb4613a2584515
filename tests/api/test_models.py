"""Every model accepts Flux's documented manifests, refuses invalid ones, round-trips."""

from __future__ import annotations

from typing import Any

import jsonschema
import pydantic
import pytest

from shared.api import crdgen, objects, registry
from tests.api import fixtures

VALID = fixtures.load("valid")
INVALID = fixtures.load("invalid")


def _model(manifest: dict[str, Any]) -> type[objects.ApiObject]:
    return registry.kind_for(manifest["apiVersion"], manifest["kind"])


def _contains(whole: Any, part: Any, path: str = "") -> None:
    """Assert every field of ``part`` is in ``whole`` with the same value."""
    if isinstance(part, dict):
        assert isinstance(whole, dict), path
        for key, value in part.items():
            assert key in whole, f"{path}.{key} was lost"
            _contains(whole[key], value, f"{path}.{key}")
    elif isinstance(part, list):
        assert isinstance(whole, list), path
        assert len(whole) == len(part), f"{path}: list length changed"
        for index, (w, p) in enumerate(zip(whole, part, strict=True)):
            _contains(w, p, f"{path}[{index}]")
    else:
        assert whole == part, f"{path}: {part!r} became {whole!r}"


@pytest.mark.parametrize("fixture", VALID, ids=[f.id for f in VALID])
def test_valid_manifest_round_trips(fixture: fixtures.Fixture) -> None:
    model = _model(fixture.manifest).model_validate(fixture.manifest)

    exact = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert exact == fixture.manifest
    dumped = objects.dump(model)
    _contains(dumped, fixture.manifest)
    assert objects.dump(type(model).model_validate(dumped)) == dumped


@pytest.mark.parametrize("fixture", VALID, ids=[f.id for f in VALID])
def test_valid_manifest_matches_generated_crd_schema(fixture: fixtures.Fixture) -> None:
    schema = crdgen.openapi_schema(_model(fixture.manifest))

    jsonschema.Draft4Validator(schema).validate(fixture.manifest)


@pytest.mark.parametrize("fixture", INVALID, ids=[f.id for f in INVALID])
def test_invalid_manifest_is_refused_with_a_clear_message(fixture: fixtures.Fixture) -> None:
    assert fixture.expect, f"{fixture.path.name} lacks its '# expect:' line"
    with pytest.raises(pydantic.ValidationError) as caught:
        _model(fixture.manifest).model_validate(fixture.manifest)

    assert fixture.expect in str(caught.value)


@pytest.mark.parametrize("kind", registry.all_kinds(), ids=lambda k: k.crd.kind)
def test_every_kind_has_valid_and_invalid_fixtures(kind: type[objects.ApiObject]) -> None:
    def covers(fixture: fixtures.Fixture) -> bool:
        manifest = fixture.manifest
        return (manifest["apiVersion"], manifest["kind"]) == (kind.crd.api_version, kind.crd.kind)

    assert any(covers(f) for f in VALID), f"no valid fixture for {kind.crd.kind}"
    assert any(covers(f) for f in INVALID), f"no invalid fixture for {kind.crd.kind}"


def test_defaults_are_crd_defaults_only() -> None:
    """A minimal GitRepository gains the CRD default timeout and nothing controller-side."""
    manifest = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "minimal"},
        "spec": {"interval": "1m", "url": "https://example.com/repo"},
    }
    spec = objects.dump(_model(manifest).model_validate(manifest))["spec"]

    assert spec == {"interval": "1m", "url": "https://example.com/repo", "timeout": "60s"}


def test_kind_for_unknown_kind_names_it() -> None:
    with pytest.raises(LookupError, match="Widget"):
        registry.kind_for("source.toolkit.fluxcd.io/v1", "Widget")
