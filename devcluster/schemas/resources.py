"""The registry of served resources: built-in kinds plus those CRDs add.

A ``Resource`` carries the discovery facts clients need (plural, singular,
scope, short names, categories, verbs, subresources) and, for built-ins, the
name of its schema in kubernetes-validate's ``$defs``. kubernetes-validate
ships schemas but no discovery facts, so the built-in ones are the compact
table ``_BUILTINS`` below (values as a v1.37 API server reports them).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from devcluster.schemas import schemas

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclasses.dataclass(frozen=True)
class Resource:
    """One served resource of one group-version."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = VERBS
    has_status: bool = False
    definition: str | None = None
    # The CRD's openAPIV3Schema etc.; ``None`` for built-ins.
    crd: dict[str, Any] | None = dataclasses.field(default=None, compare=False, hash=False)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """Storage key of the resource: ``<group>/<plural>`` (version-independent)."""
        return f"{self.group}/{self.plural}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


# group/version Kind plural scope(N|C) shortNames categories status(s|-)
_BUILTINS = """
v1 ConfigMap configmaps N cm - -
v1 Secret secrets N - - -
v1 Namespace namespaces C ns - s
v1 Pod pods N po all s
v1 Service services N svc all s
v1 ServiceAccount serviceaccounts N sa - -
v1 Endpoints endpoints N ep - -
v1 Event events N ev - -
v1 Node nodes C no - s
v1 PersistentVolume persistentvolumes C pv - s
v1 PersistentVolumeClaim persistentvolumeclaims N pvc - s
v1 LimitRange limitranges N limits - -
v1 ResourceQuota resourcequotas N quota - s
v1 ReplicationController replicationcontrollers N rc all s
v1 PodTemplate podtemplates N - - -
apps/v1 Deployment deployments N deploy all s
apps/v1 ReplicaSet replicasets N rs all s
apps/v1 StatefulSet statefulsets N sts all s
apps/v1 DaemonSet daemonsets N ds all s
apps/v1 ControllerRevision controllerrevisions N - - -
batch/v1 Job jobs N - all s
batch/v1 CronJob cronjobs N cj all s
autoscaling/v2 HorizontalPodAutoscaler horizontalpodautoscalers N hpa all s
policy/v1 PodDisruptionBudget poddisruptionbudgets N pdb - s
networking.k8s.io/v1 Ingress ingresses N ing - s
networking.k8s.io/v1 IngressClass ingressclasses C - - -
networking.k8s.io/v1 NetworkPolicy networkpolicies N netpol - -
discovery.k8s.io/v1 EndpointSlice endpointslices N - - -
rbac.authorization.k8s.io/v1 Role roles N - - -
rbac.authorization.k8s.io/v1 RoleBinding rolebindings N - - -
rbac.authorization.k8s.io/v1 ClusterRole clusterroles C - - -
rbac.authorization.k8s.io/v1 ClusterRoleBinding clusterrolebindings C - - -
storage.k8s.io/v1 StorageClass storageclasses C sc - -
scheduling.k8s.io/v1 PriorityClass priorityclasses C pc - -
coordination.k8s.io/v1 Lease leases N - - -
events.k8s.io/v1 Event events N ev - -
admission/v1 MutatingWebhookConfiguration mutatingwebhookconfigurations C - - -
admission/v1 ValidatingWebhookConfiguration validatingwebhookconfigurations C - - -
authentication.k8s.io/v1 SelfSubjectReview selfsubjectreviews C - - -
authorization.k8s.io/v1 LocalSubjectAccessReview localsubjectaccessreviews N - - -
authorization.k8s.io/v1 SelfSubjectAccessReview selfsubjectaccessreviews C - - -
authorization.k8s.io/v1 SelfSubjectRulesReview selfsubjectrulesreviews C - - -
authorization.k8s.io/v1 SubjectAccessReview subjectaccessreviews C - - -
apiext/v1 CustomResourceDefinition customresourcedefinitions C crd,crds api-extensions s
"""

# Short group names used in the table above.
_GROUP_ALIASES = {"admission": "admissionregistration.k8s.io", "apiext": "apiextensions.k8s.io"}

# Create-only kinds answered by ``reviews``, never stored (so never listed,
# watched or read back): the access, rules and identity reviews.
REVIEWS = {
    "authentication.k8s.io/selfsubjectreviews",
    "authorization.k8s.io/localsubjectaccessreviews",
    "authorization.k8s.io/selfsubjectaccessreviews",
    "authorization.k8s.io/selfsubjectrulesreviews",
    "authorization.k8s.io/subjectaccessreviews",
}

# Group preference order in discovery (the API server lists legacy groups first).
PREFERRED_VERSIONS = {"autoscaling": "v2"}


def _split(field: str) -> tuple[str, ...]:
    return () if field == "-" else tuple(field.split(","))


def builtins() -> list[Resource]:
    found: list[Resource] = []
    for line in _BUILTINS.strip().splitlines():
        gv, kind, plural, scope, short, categories, status = line.split()
        group, _, version = gv.rpartition("/")
        group = _GROUP_ALIASES.get(group, group)
        review = f"{group}/{plural}" in REVIEWS
        found.append(
            Resource(
                group=group,
                version=version,
                kind=kind,
                plural=plural,
                singular=kind.lower(),
                namespaced=scope == "N",
                short_names=_split(short),
                categories=_split(categories),
                has_status=status == "s",
                verbs=("create",) if review else VERBS,
                definition=schemas.definition_for(group, version, kind),
            )
        )
    return found


class Registry:
    """Resources by group-version and plural; CRDs add and remove theirs at run time."""

    def __init__(self) -> None:
        self._by_path: dict[tuple[str, str, str], Resource] = {}
        self._crd_owned: dict[str, list[Resource]] = {}
        for resource in builtins():
            self._by_path[(resource.group, resource.version, resource.plural)] = resource
        self.generation = 0

    def lookup(self, group: str, version: str, plural: str) -> Resource | None:
        return self._by_path.get((group, version, plural))

    def all(self) -> list[Resource]:
        return list(self._by_path.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Group → versions served (preferred first), groups in registration order."""
        groups: dict[str, list[str]] = {}
        for resource in self._by_path.values():
            versions = groups.setdefault(resource.group, [])
            if resource.version not in versions:
                versions.append(resource.version)
        for group, versions in groups.items():
            preferred = PREFERRED_VERSIONS.get(group)
            if preferred in versions:
                versions.remove(preferred)
                versions.insert(0, preferred)
        return groups

    def in_group_version(self, group: str, version: str) -> list[Resource]:
        return [r for r in self._by_path.values() if (r.group, r.version) == (group, version)]

    def set_crd(self, crd_name: str, resources: list[Resource]) -> None:
        """Serve ``resources`` for the CRD ``crd_name`` (replacing what it served)."""
        self.remove_crd(crd_name)
        for resource in resources:
            self._by_path[(resource.group, resource.version, resource.plural)] = resource
        self._crd_owned[crd_name] = resources
        self.generation += 1

    def remove_crd(self, crd_name: str) -> list[Resource]:
        removed = self._crd_owned.pop(crd_name, [])
        for resource in removed:
            self._by_path.pop((resource.group, resource.version, resource.plural), None)
        if removed:
            self.generation += 1
        return removed
