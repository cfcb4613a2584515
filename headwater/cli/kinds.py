"""The Flux kinds as the ``flux`` command names them, and their parsers.

Flux's verbs take a kind as one or two words: ``source git``,
``kustomization`` (``ks``), ``image policy``, ``alert-provider`` … Every kind
of ``shared.api.registry`` gets its words here, so one ``add_kinds`` call
gives a verb (``get``, ``reconcile``, ``suspend`` …) a sub-command per kind.
What verbs need to know of kinds beyond names lives here too: the static
objects no controller reconciles (``is_static``) and the source an object
is reconciled with (``source_of``).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from shared.api import objects, registry, source_extensions
from shared.kube import resources

# kind → (group word or "", the kind's word, aliases of the kind's word)
_WORDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "GitRepository": ("source", "git", ()),
    "OCIRepository": ("source", "oci", ()),
    "HelmRepository": ("source", "helm", ()),
    "HelmChart": ("source", "chart", ()),
    "Bucket": ("source", "bucket", ()),
    "ExternalArtifact": ("source", "external", ()),
    "Kustomization": ("", "kustomization", ("kustomizations", "ks")),
    "HelmRelease": ("", "helmrelease", ("helmreleases", "hr")),
    "Alert": ("", "alert", ("alerts",)),
    "Provider": ("", "alert-provider", ("alert-providers",)),
    "Receiver": ("", "receiver", ("receivers",)),
    "ImageRepository": ("image", "repository", ()),
    "ImagePolicy": ("image", "policy", ()),
    "ImageUpdateAutomation": ("image", "update", ()),
    "ArtifactGenerator": ("artifact", "generator", ()),
}
STATIC_KINDS = frozenset({"Alert", "Provider"})
_GROUP_ALIASES = {"source": ("sources",), "image": ("images",), "artifact": ()}


@dataclasses.dataclass(frozen=True)
class Kind:
    """One Flux kind: its model, REST resource and the words the CLI calls it."""

    model: type[objects.ApiObject]
    group_word: str
    word: str
    aliases: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.model.crd.kind

    @property
    def api_version(self) -> str:
        return self.model.crd.api_version

    @property
    def resource(self) -> resources.Resource:
        crd = self.model.crd
        return resources.Resource(
            group=crd.group,
            version=crd.version,
            kind=crd.kind,
            plural=crd.plural,
            namespaced=crd.scope == "Namespaced",
        )

    @property
    def static(self) -> bool:
        """No controller reconciles it into a status (Flux's Alert and Provider)."""
        return self.name in STATIC_KINDS

    @property
    def is_source(self) -> bool:
        return self.group_word == "source"

    @property
    def words(self) -> str:
        """How messages name it: ``source git``, ``kustomization``."""
        return f"{self.group_word} {self.word}".strip()

    @property
    def paused_by_annotation(self) -> bool:
        """ArtifactGenerator has no ``spec.suspend``: Flux pauses it by an annotation."""
        return self.name == "ArtifactGenerator"

    def suspend_patch(self, suspended: bool) -> dict[str, Any]:
        """The merge patch that suspends (or resumes) an object of this kind."""
        if self.paused_by_annotation:
            value = source_extensions.DISABLED_VALUE if suspended else None
            return {"metadata": {"annotations": {source_extensions.RECONCILE_ANNOTATION: value}}}
        return {"spec": {"suspend": suspended}}


def all_kinds() -> list[Kind]:
    """Every kind, in the registry's order."""
    found = []
    for model in registry.all_kinds():
        group_word, word, aliases = _WORDS[model.crd.kind]
        found.append(Kind(model, group_word, word, aliases))
    return found


def by_kind_name(name: str) -> Kind:
    """The kind called ``name`` (``GitRepository``, ``gitrepository``, ``ks`` …)."""
    wanted = name.lower()
    for kind in all_kinds():
        crd = kind.model.crd
        names = {crd.kind.lower(), crd.plural, crd.singular, *crd.short_names, kind.word}
        if wanted in names:
            return kind
    raise LookupError(f"unknown Flux kind {name!r}")


def is_static(obj: dict[str, Any]) -> bool:
    """Whether no controller reconciles ``obj`` into a status.

    Alert and Provider, and a HelmRepository of type ``oci`` (only a URL and
    credentials for HelmCharts), as Flux treats them: never waited for.
    """
    if by_kind_name(obj["kind"]).static:
        return True
    return obj["kind"] == "HelmRepository" and (obj.get("spec") or {}).get("type") == "oci"


def source_of(kind: Kind, obj: dict[str, Any]) -> tuple[Kind, str, str] | None:
    """The source ``reconcile --with-source`` reconciles first: kind, namespace, name.

    A Kustomization's or HelmChart's ``sourceRef``; for a HelmRelease its
    ``chartRef``, or else the HelmChart helm-controller made from its chart
    template (``<namespace>-<name>``, in the template source's namespace),
    as Flux picks it. None when there is none.
    """
    spec = obj.get("spec") or {}
    namespace = obj["metadata"].get("namespace", "")
    ref = spec.get("chartRef") if kind.name == "HelmRelease" else spec.get("sourceRef")
    if ref:
        return by_kind_name(ref["kind"]), ref.get("namespace") or namespace, ref["name"]
    template = ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef")
    if kind.name == "HelmRelease" and template:
        chart = f"{namespace}-{obj['metadata']['name']}"
        return by_kind_name("HelmChart"), template.get("namespace") or namespace, chart
    return None


Configure = Callable[[argparse.ArgumentParser, Kind], None]


def add_kinds(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    configure: Configure,
    parents: Iterable[argparse.ArgumentParser] = (),
    kinds: Iterable[Kind] | None = None,
    help_verb: str = "",
) -> dict[str, argparse._SubParsersAction[argparse.ArgumentParser]]:
    """A sub-command per kind under ``commands`` (grouped as ``source git``).

    ``configure`` adds the verb's arguments and defaults to each kind's
    parser (its ``kind`` default is set here). Returns the group sub-parsers
    (``source``, ``image``) so a verb can add ``all`` to them.
    """
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    parent_list = list(parents)
    for kind in all_kinds() if kinds is None else kinds:
        target = commands
        if kind.group_word:
            if kind.group_word not in groups:
                group = commands.add_parser(
                    kind.group_word,
                    aliases=list(_GROUP_ALIASES[kind.group_word]),
                    help=f"{help_verb} {kind.group_word} kinds".strip(),
                )
                groups[kind.group_word] = group.add_subparsers(
                    dest="kind_word", required=True, metavar="KIND"
                )
            target = groups[kind.group_word]
        parser = target.add_parser(
            kind.word, aliases=list(kind.aliases), parents=parent_list, help=kind.name
        )
        parser.set_defaults(kind=kind)
        configure(parser, kind)
    return groups


def add_verb(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    verb: str,
    *,
    help: str,
    configure: Configure,
    common: argparse.ArgumentParser,
    kinds: Iterable[Kind] | None = None,
) -> tuple[
    argparse._SubParsersAction[argparse.ArgumentParser],
    dict[str, argparse._SubParsersAction[argparse.ArgumentParser]],
]:
    """A verb with a sub-command per kind (see ``add_kinds``): its sub-parsers and groups."""
    parser = commands.add_parser(verb, help=help)
    subparsers = parser.add_subparsers(dest="what", required=True, metavar="KIND")
    groups = add_kinds(
        subparsers, configure=configure, parents=[common], kinds=kinds, help_verb=verb
    )
    return subparsers, groups


def is_suspended(obj: dict[str, Any]) -> bool:
    """Whether an object (as served, with its ``kind``) is suspended."""
    if obj.get("kind") == "ArtifactGenerator":
        return source_extensions.is_disabled((obj.get("metadata") or {}).get("annotations"))
    return bool((obj.get("spec") or {}).get("suspend"))
