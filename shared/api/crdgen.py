"""Generate CustomResourceDefinitions from the API models (``make manifests``).

The models are the single source of truth: ``crds/`` is this module's output
and is never edited by hand. The schema comes from pydantic's JSON Schema of
the model, rewritten into the OpenAPI v3 subset a CRD accepts: references
inlined, ``Optional`` unwrapped, ``const`` turned into ``enum``, titles and
``null`` defaults dropped, properties and ``required`` sorted as
controller-gen sorts them. ``structural.check`` verifies the result.

Run as ``python -m shared.api.crdgen --output crds`` to (re)write one YAML
file per kind, named ``<group>_<plural>.yaml`` like Flux's.
"""

from __future__ import annotations

import argparse
import copy
import io
import pathlib
import sys
from collections.abc import Iterable
from typing import Any

from ruamel.yaml import YAML

from shared.api import objects, registry, structural

_DROPPED_KEYS = frozenset({"title"})


def crd_for(kind: type[objects.ApiObject]) -> dict[str, Any]:
    """The CustomResourceDefinition (as a dict) for one top-level kind."""
    info = kind.crd
    version: dict[str, Any] = {
        "name": info.version,
        "served": info.served,
        "storage": info.storage,
    }
    if info.printer_columns:
        version["additionalPrinterColumns"] = [_column(c) for c in info.printer_columns]
    if info.deprecated:
        version["deprecated"] = True
    version["schema"] = {"openAPIV3Schema": openapi_schema(kind)}
    version["subresources"] = {"status": {}} if info.status_subresource else {}
    version = dict(sorted(version.items()))
    names: dict[str, Any] = {
        "kind": info.kind,
        "listKind": f"{info.kind}List",
        "plural": info.plural,
        "singular": info.singular,
    }
    if info.short_names:
        names["shortNames"] = list(info.short_names)
    if info.categories:
        names["categories"] = list(info.categories)
    metadata: dict[str, Any] = {}
    if info.annotations:
        metadata["annotations"] = dict(sorted(info.annotations.items()))
    metadata["name"] = info.crd_name
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata,
        "spec": {
            "group": info.group,
            "names": dict(sorted(names.items())),
            "scope": info.scope,
            "versions": [version],
        },
    }


def _column(column: objects.PrinterColumn) -> dict[str, Any]:
    out: dict[str, Any] = {"jsonPath": column.json_path, "name": column.name, "type": column.type}
    if column.priority:
        out["priority"] = column.priority
    if column.description:
        out["description"] = column.description
    return out


def openapi_schema(kind: type[objects.ApiObject]) -> dict[str, Any]:
    """The structural ``openAPIV3Schema`` of a kind."""
    raw = kind.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _rewrite(raw, defs)
    properties = schema["properties"]
    for key in ("apiVersion", "kind"):
        # The root's apiVersion and kind are plain strings in a CRD: the API
        # server routes on them, so they carry no enum.
        properties[key] = {"description": _ROOT_DESCRIPTIONS[key], "type": "string"}
    properties["metadata"] = {"type": "object"}
    status = properties.get("status")
    if status is not None and kind.crd.status_default is not None:
        status["default"] = copy.deepcopy(kind.crd.status_default)
    schema.pop("required", None)
    schema.pop("additionalProperties", None)
    return schema


_ROOT_DESCRIPTIONS = {
    "apiVersion": (
        "APIVersion defines the versioned schema of this representation of an object. "
        "Servers should convert recognized schemas to the latest internal value, and "
        "may reject unrecognized values."
    ),
    "kind": (
        "Kind is a string value representing the REST resource this object represents. "
        "Servers may infer this from the endpoint the client submits requests to. "
        "Cannot be updated. In CamelCase."
    ),
}


def _rewrite(node: Any, defs: dict[str, Any]) -> Any:
    """Rewrite one JSON Schema node into its CRD form (recursively)."""
    if isinstance(node, list):
        return [_rewrite(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref is not None:
        target = _rewrite(defs[ref.rsplit("/", 1)[-1]], defs)
        node = {**target, **{k: v for k, v in node.items() if k != "default" or v is not None}}
    any_of = node.pop("anyOf", None)
    if any_of is not None:
        variants = [v for v in any_of if v != {"type": "null"}]
        if len(variants) != 1:
            raise structural.NotStructuralError(f"a CRD schema cannot express the union {any_of!r}")
        node = {**_rewrite(variants[0], defs), **node}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("default", 0) is None:
        del node["default"]
    for key in _DROPPED_KEYS:
        node.pop(key, None)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _rewrite(value[name], defs) for name in sorted(value)}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _rewrite(value, defs)
        elif key == "required":
            out[key] = sorted(value)
        else:
            out[key] = value
    if out.get("additionalProperties") is False:
        # NB: extra="forbid" is how the models refuse typos; a CRD expresses
        # the same by pruning, and structural schemas forbid the keyword here.
        del out["additionalProperties"]
    if "properties" in out:
        out.setdefault("type", "object")
    return dict(sorted(out.items()))


def render(crd: dict[str, Any]) -> str:
    """YAML text of a CRD, in a stable layout (block style, two-space indent)."""
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    buffer.write("---\n")
    yaml.dump(crd, buffer)
    return buffer.getvalue()


def file_name(kind: type[objects.ApiObject]) -> str:
    return f"{kind.crd.group}_{kind.crd.plural}.yaml"


def write_all(output: pathlib.Path, kinds: Iterable[type[objects.ApiObject]]) -> list[pathlib.Path]:
    """Write one CRD file per kind into ``output``, removing stale generated files.

    Raises ``structural.NotStructuralError`` before writing anything if a
    generated schema breaks the structural rules.
    """
    rendered: dict[str, str] = {}
    for kind in kinds:
        crd = crd_for(kind)
        structural.check_crd(crd)
        rendered[file_name(kind)] = render(crd)
    output.mkdir(parents=True, exist_ok=True)
    for stale in output.glob("*.yaml"):
        if stale.name not in rendered:
            stale.unlink()
    written = []
    for name, text in sorted(rendered.items()):
        path = output / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=pathlib.Path, default=pathlib.Path("crds"))
    args = parser.parse_args(argv)
    try:
        written = write_all(args.output, registry.all_kinds())
    except structural.NotStructuralError as error:
        print(f"crdgen: {error}", file=sys.stderr)
        return 1
    print(f"crdgen: {len(written)} CRDs in {args.output}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
