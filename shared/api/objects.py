"""The model base classes and the CRD facts each kind carries.

``ApiModel`` is the base of every nested struct: camelCase wire names, unknown
fields refused (the API server prunes them, so a model meeting one is reading
a typo), attribute docstrings becoming CRD descriptions. ``ApiObject`` is the
base of every top-level kind and carries a ``CrdInfo`` describing the
CustomResourceDefinition that ``crdgen`` generates for it.

Dumping: ``dump(model)`` gives the wire dict: aliases, no ``None`` values
(Go's ``omitempty``), JSON-compatible scalars.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Self

import pydantic
import pydantic.json_schema
import pydantic_core
from pydantic import alias_generators

from shared.api import validation


class ApiModel(pydantic.BaseModel):
    """Base of every API struct: camelCase aliases, strict about unknown fields.

    Subclasses may declare ``cel_rules``: CEL ``x-kubernetes-validations`` that
    the CRD carries on this object's schema and that the model also enforces
    on validation, so a manifest rejected by the API server is rejected here
    with the same message.
    """

    model_config = pydantic.ConfigDict(
        alias_generator=alias_generators.to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        use_attribute_docstrings=True,
        serialize_by_alias=True,
    )

    cel_rules: ClassVar[tuple[validation.CelRule, ...]] = ()
    required_with_default: ClassVar[tuple[str, ...]] = ()
    """Wire names of fields the CRD lists as required although they have a default.

    NB: controller-gen marks a Go field that is both ``+required`` and
    ``+kubebuilder:default`` as required (the API server defaults, then
    checks); pydantic never lists a defaulted field as required.
    """

    @classmethod
    def __get_pydantic_json_schema__(
        cls,
        core_schema: pydantic_core.CoreSchema,
        handler: pydantic.GetJsonSchemaHandler,
    ) -> pydantic.json_schema.JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        if cls.cel_rules:
            target["x-kubernetes-validations"] = [rule.to_schema() for rule in cls.cel_rules]
        if cls.required_with_default:
            target["required"] = sorted({*target.get("required", ()), *cls.required_with_default})
        return schema

    @pydantic.model_validator(mode="after")
    def _check_cel_rules(self) -> Self:
        if self.cel_rules:
            validation.check_rules(self.cel_rules, dump(self))
        return self


class ObjectMeta(pydantic.BaseModel):
    """The subset of ``metav1.ObjectMeta`` that Headwater reads.

    Fields the API server owns (``managedFields`` and others) are kept as they
    come, so an object round-trips unchanged.
    """

    model_config = pydantic.ConfigDict(
        alias_generator=alias_generators.to_camel,
        populate_by_name=True,
        extra="allow",
        strict=True,
        serialize_by_alias=True,
    )

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: list[str] | None = None
    owner_references: list[dict[str, Any]] | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry (what ``kubectl get`` shows)."""

    name: str
    type: str
    json_path: str
    priority: int = 0
    description: str | None = None


def ready_columns() -> tuple[PrinterColumn, ...]:
    """The READY and STATUS columns every Flux kind shows from its Ready condition."""
    return (
        PrinterColumn(
            name="Ready", type="string", json_path='.status.conditions[?(@.type=="Ready")].status'
        ),
        PrinterColumn(
            name="Status",
            type="string",
            json_path='.status.conditions[?(@.type=="Ready")].message',
        ),
    )


AGE_COLUMN = PrinterColumn(name="Age", type="date", json_path=".metadata.creationTimestamp")


@dataclasses.dataclass(frozen=True, kw_only=True)
class CrdInfo:
    """What the CustomResourceDefinition of a kind says beyond the schema.

    ``status_default`` is the CRD default of ``status`` (Flux defaults it to
    ``{"observedGeneration": -1}`` on reconciled kinds). ``status_subresource``
    is False for the kinds Flux serves without one (Provider and Alert, whose
    CRDs declare ``subresources: {}``). ``annotations`` go on the CRD object.
    """

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    scope: str = "Namespaced"
    printer_columns: tuple[PrinterColumn, ...] = ()
    status_default: dict[str, Any] | None = None
    status_subresource: bool = True
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)
    served: bool = True
    storage: bool = True
    deprecated: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"


class ApiObject(ApiModel):
    """Base of every top-level kind: apiVersion, kind, metadata, spec, status.

    Subclasses set ``crd`` and declare ``api_version``/``kind`` as ``Literal``
    fields so that a manifest of another kind is refused.
    """

    crd: ClassVar[CrdInfo]

    api_version: str
    kind: str
    metadata: ObjectMeta = pydantic.Field(default_factory=ObjectMeta)


def dump(model: pydantic.BaseModel) -> dict[str, Any]:
    """The wire form of ``model``: camelCase keys, ``None`` omitted, JSON scalars."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
