"""postBuild variable substitution on built objects, with Flux's rules and messages.

Contract:

- ``collect_variables`` gathers the variables of ``spec.postBuild``:
  ``substituteFrom`` ConfigMaps and Secrets in order (later ones override
  earlier ones; Secret values are base64-decoded; a missing object fails with
  ``substitute from 'Kind/name' error: …`` unless the reference is optional),
  then the inline ``substitute`` map, which overrides them all. Newlines are
  removed from every value. Fetching is the caller's: ``fetch`` returns the
  object, or None when it does not exist.
- ``validate_names`` refuses a variable name not matching Flux's
  ``^[_[:alpha:]][_[:alpha:][:digit:]]*$``.
- ``substitute_document`` expands one object's YAML text (the text kustomize
  emitted, so quoting decides whether ``${replicas}`` becomes a number) and
  parses the result back into an object. An object labelled or annotated
  ``kustomize.toolkit.fluxcd.io/substitute: disabled`` is returned unchanged.
  Errors read like Flux's: ``YAMLToJSON: variable substitution failed: …``;
  the builder prefixes ``post build failed for '<name>': ``.
- ``enabled`` says whether a Kustomization substitutes at all: when it has
  variables, or always with ``substituteStrategy: Always``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from controllers.kustomize import expanding
from shared.api import kustomize, meta
from shared.kube import manifests

VARIABLE_NAME_PATTERN = "^[_[:alpha:]][_[:alpha:][:digit:]]*$"
_VARIABLE_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
DISABLED = "disabled"

Fetch = Callable[[kustomize.SubstituteReference], Awaitable[Mapping[str, Any] | None]]
"""Reads a referenced ConfigMap or Secret; None when it does not exist."""


class SubstitutionError(Exception):
    """Variables could not be collected, or an object could not be substituted."""


def enabled(post_build: kustomize.PostBuild | None, variables: Mapping[str, str]) -> bool:
    """Whether substitution runs: any variable defined, or strategy ``Always``."""
    if post_build is None:
        return False
    return bool(variables) or post_build.substitute_strategy == "Always"


async def collect_variables(
    post_build: kustomize.PostBuild | None, *, fetch: Fetch
) -> dict[str, str]:
    """The substitution variables of a Kustomization, in Flux's precedence order."""
    variables: dict[str, str] = {}
    if post_build is None:
        return variables
    for reference in post_build.substitute_from or ():
        found = await fetch(reference)
        if found is None:
            if reference.optional:
                continue
            plural = "configmaps" if reference.kind == "ConfigMap" else "secrets"
            raise SubstitutionError(
                f"substitute from '{reference.kind}/{reference.name}' error: "
                f'{plural} "{reference.name}" not found'
            )
        data: Mapping[str, Any] = found.get("data") or {}
        for key, value in data.items():
            text = (
                _decode_secret_value(reference, key, value) if reference.kind == "Secret" else value
            )
            variables[key] = str(text).replace("\n", "")
    for key, value in (post_build.substitute or {}).items():
        variables[key] = value.replace("\n", "")
    return variables


def _decode_secret_value(reference: kustomize.SubstituteReference, key: str, value: Any) -> str:
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as err:
        raise SubstitutionError(
            f"substitute from 'Secret/{reference.name}' error: data key {key!r} is not base64 text"
        ) from err


def validate_names(variables: Mapping[str, str]) -> None:
    """Refuse variable names Flux refuses (the first invalid name in sorted order)."""
    for name in sorted(variables):
        if not _VARIABLE_NAME.fullmatch(name):
            raise SubstitutionError(
                f"'{name}' var name is invalid, must match '{VARIABLE_NAME_PATTERN}'"
            )


def opted_out(obj: Mapping[str, Any]) -> bool:
    """Whether the object carries ``kustomize.toolkit.fluxcd.io/substitute: disabled``."""
    metadata = obj.get("metadata") or {}
    key = meta.SUBSTITUTE_DISABLED_ANNOTATION
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    return labels.get(key) == DISABLED or annotations.get(key) == DISABLED


def substitute_document(
    text: str,
    obj: dict[str, Any],
    variables: Mapping[str, str],
    *,
    strict: bool = False,
) -> dict[str, Any]:
    """Expand the YAML ``text`` of ``obj`` and parse it back; ``obj`` itself when opted out."""
    if opted_out(obj):
        return obj
    validate_names(variables)
    try:
        expanded = expanding.expand(text, variables, strict=strict)
    except expanding.ExpansionError as err:
        raise SubstitutionError(f"YAMLToJSON: variable substitution failed: {err}") from err
    try:
        documents = manifests.load_all(expanded)
    except manifests.ManifestError as err:
        raise SubstitutionError(f"YAMLToJSON: {err}") from err
    if len(documents) != 1:
        raise SubstitutionError(
            f"YAMLToJSON: substitution produced {len(documents)} documents instead of one"
        )
    return documents[0]
