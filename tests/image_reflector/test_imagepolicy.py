"""ImagePolicy's pure parts: the repository index and accessFrom's namespace selection."""

from __future__ import annotations

from controllers.image_reflector import imagepolicy
from shared.api import meta


def test_repository_key_defaults_to_the_policy_namespace() -> None:
    own = {"metadata": {"namespace": "apps"}, "spec": {"imageRepositoryRef": {"name": "web"}}}
    other = {
        "metadata": {"namespace": "apps"},
        "spec": {"imageRepositoryRef": {"name": "web", "namespace": "images"}},
    }
    assert imagepolicy.repository_key(own) == ["apps/web"]
    assert imagepolicy.repository_key(other) == ["images/web"]
    assert imagepolicy.repository_key({"metadata": {"namespace": "apps"}, "spec": {}}) == []


def test_access_from_selectors_are_ored_and_their_labels_anded() -> None:
    access = meta.AccessFrom.model_validate(
        {"namespaceSelectors": [{"matchLabels": {"team": "a", "env": "prod"}},
                                {"matchLabels": {"shared": "yes"}}]}
    )  # fmt: skip
    assert imagepolicy.selects(access, {"team": "a", "env": "prod", "x": "y"})
    assert imagepolicy.selects(access, {"shared": "yes"})
    assert not imagepolicy.selects(access, {"team": "a"})
    everyone = meta.AccessFrom.model_validate({"namespaceSelectors": [{}]})
    assert imagepolicy.selects(everyone, {})
