"""The status structures every reconciled kind shares, as Flux embeds its shared structs.

``ObjectStatus`` carries what the reconcile skeleton writes on every kind:
``observedGeneration``, ``conditions`` and ``lastHandledReconcileAt``.
``ArtifactSourceStatus`` adds the ``artifact`` block of the source kinds.
A kind's status inherits one of them and adds its own fields.

The descriptions of the shared fields name the kind (``Conditions of the
GitRepository.``) so that the generated CRDs read as Flux's do: each status
class sets ``describes`` and, where its meaning differs, the description of
``observedGeneration`` or ``artifact``; ``__get_pydantic_json_schema__``
writes them into the schema.
"""

from __future__ import annotations

from typing import ClassVar

import pydantic
import pydantic.json_schema
import pydantic_core

from shared.api import meta, objects


class ObjectStatus(objects.ApiModel):
    """The status fields of every reconciled kind."""

    describes: ClassVar[str] = "object"
    """The kind named in the description of ``conditions``."""
    generation_description: ClassVar[str] = "The last generation reconciled."
    """The description of ``observedGeneration`` for this kind."""

    observed_generation: meta.Int64 | None = None
    """The last generation reconciled."""
    conditions: list[meta.Condition] | None = None
    """Conditions of the object."""
    last_handled_reconcile_at: str | None = None
    """The last reconcile.fluxcd.io/requestedAt value handled."""

    @classmethod
    def field_descriptions(cls) -> dict[str, str]:
        """Wire name → description of the shared fields, as this kind words them."""
        return {
            "observedGeneration": cls.generation_description,
            "conditions": f"Conditions of the {cls.describes}.",
        }

    @classmethod
    def __get_pydantic_json_schema__(
        cls,
        core_schema: pydantic_core.CoreSchema,
        handler: pydantic.GetJsonSchemaHandler,
    ) -> pydantic.json_schema.JsonSchemaValue:
        schema = super().__get_pydantic_json_schema__(core_schema, handler)
        properties = handler.resolve_ref_schema(schema).get("properties", {})
        for name, description in cls.field_descriptions().items():
            if name in properties:
                properties[name]["description"] = description
        return schema


class ArtifactSourceStatus(ObjectStatus):
    """The status fields of every source kind: the shared ones and the artifact."""

    generation_description: ClassVar[str] = "The last generation fully reconciled."
    artifact_description: ClassVar[str] = "The last artifact produced."
    """The description of ``artifact`` for this kind."""

    artifact: meta.Artifact | None = None
    """The last artifact produced."""

    @classmethod
    def field_descriptions(cls) -> dict[str, str]:
        return {**super().field_descriptions(), "artifact": cls.artifact_description}
