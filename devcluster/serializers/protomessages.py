"""Message tables for ``protobuf``: field numbers, JSON names, value kinds.

Field numbers are those of the Kubernetes ``generated.proto`` files:
k8s.io/apimachinery runtime (Unknown, TypeMeta) and meta/v1 (ObjectMeta,
OwnerReference, ManagedFieldsEntry, DeleteOptions, Preconditions,
LabelSelector), k8s.io/api core/v1 (Secret, ConfigMap, Namespace, Pod, PodSpec,
Container, ContainerPort, ResourceRequirements, LocalObjectReference,
ServiceAccount, Service, ServiceSpec, ServicePort) and apps/v1 (Deployment,
DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment) and batch/v1
(Job, JobSpec). The kinds of the other API groups are in ``protokinds``. A
table may leave fields out; the decoder then accepts them only empty, so
nothing a client sends is silently dropped. Pure data, no I/O.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping


class Kind(enum.Enum):
    """How a field's wire value becomes a JSON value."""

    STRING = "string"
    BYTES = "bytes"  # base64 in JSON
    BOOL = "bool"
    INT = "int"  # int32/int64 varint, two's complement when negative
    TIME = "time"  # metav1.Time → RFC 3339, seconds precision
    RAW_JSON = "raw_json"  # FieldsV1: its Raw bytes are JSON
    MESSAGE = "message"
    MAP_STRING = "map_string"  # map<string, string>
    MAP_BYTES = "map_bytes"  # map<string, bytes>
    INT_OR_STRING = "int_or_string"  # intstr.IntOrString{type = 1, intVal = 2, strVal = 3}
    MAP_QUANTITY = "map_quantity"  # map<string, resource.Quantity{string = 1}> → strings
    MAP_STRINGS = "map_strings"  # map<string, ExtraValue{repeated string items = 1}> → lists
    QUANTITY = "quantity"  # resource.Quantity{string = 1} → its string


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of a message table.

    ``keep_empty`` marks fields Go marshals to JSON even when empty: pointer
    fields (present on the wire only when set) and required fields without
    ``omitempty``. Others are dropped when empty, as ``omitempty`` drops them.
    ``inline`` marks an embedded Go struct with ``json:",inline"``: a message on
    the wire whose fields JSON puts in the enclosing object.
    """

    name: str
    kind: Kind
    repeated: bool = False
    message: str | None = None
    keep_empty: bool = False
    inline: bool = False


Message = Mapping[int, Field]

# Field numbers from the generated.proto files named in the module docstring.
MESSAGES: dict[str, Message] = {
    "Unknown": {
        1: Field("typeMeta", Kind.MESSAGE, message="TypeMeta"),
        2: Field("raw", Kind.BYTES),
        3: Field("contentEncoding", Kind.STRING),
        4: Field("contentType", Kind.STRING),
    },
    "TypeMeta": {
        1: Field("apiVersion", Kind.STRING),
        2: Field("kind", Kind.STRING),
    },
    "ObjectMeta": {
        1: Field("name", Kind.STRING),
        2: Field("generateName", Kind.STRING),
        3: Field("namespace", Kind.STRING),
        4: Field("selfLink", Kind.STRING),
        5: Field("uid", Kind.STRING),
        6: Field("resourceVersion", Kind.STRING),
        7: Field("generation", Kind.INT),
        8: Field("creationTimestamp", Kind.TIME),
        9: Field("deletionTimestamp", Kind.TIME),
        10: Field("deletionGracePeriodSeconds", Kind.INT, keep_empty=True),
        11: Field("labels", Kind.MAP_STRING),
        12: Field("annotations", Kind.MAP_STRING),
        13: Field("ownerReferences", Kind.MESSAGE, repeated=True, message="OwnerReference"),
        14: Field("finalizers", Kind.STRING, repeated=True),
        17: Field("managedFields", Kind.MESSAGE, repeated=True, message="ManagedFieldsEntry"),
    },
    "OwnerReference": {
        1: Field("kind", Kind.STRING, keep_empty=True),
        3: Field("name", Kind.STRING, keep_empty=True),
        4: Field("uid", Kind.STRING, keep_empty=True),
        5: Field("apiVersion", Kind.STRING, keep_empty=True),
        6: Field("controller", Kind.BOOL, keep_empty=True),
        7: Field("blockOwnerDeletion", Kind.BOOL, keep_empty=True),
    },
    "ManagedFieldsEntry": {
        1: Field("manager", Kind.STRING),
        2: Field("operation", Kind.STRING),
        3: Field("apiVersion", Kind.STRING),
        4: Field("time", Kind.TIME),
        6: Field("fieldsType", Kind.STRING),
        7: Field("fieldsV1", Kind.RAW_JSON),
        8: Field("subresource", Kind.STRING),
    },
    "Secret": {
        1: Field("metadata", Kind.MESSAGE, message="ObjectMeta", keep_empty=True),
        2: Field("data", Kind.MAP_BYTES),
        3: Field("type", Kind.STRING),
        4: Field("stringData", Kind.MAP_STRING),
        5: Field("immutable", Kind.BOOL, keep_empty=True),
    },
    "ConfigMap": {
        1: Field("metadata", Kind.MESSAGE, message="ObjectMeta", keep_empty=True),
        2: Field("data", Kind.MAP_STRING),
        3: Field("binaryData", Kind.MAP_BYTES),
        4: Field("immutable", Kind.BOOL, keep_empty=True),
    },
    "Namespace": {
        1: Field("metadata", Kind.MESSAGE, message="ObjectMeta", keep_empty=True),
        2: Field("spec", Kind.MESSAGE, message="NamespaceSpec", keep_empty=True),
        3: Field("status", Kind.MESSAGE, message="NamespaceStatus", keep_empty=True),
    },
    "NamespaceSpec": {
        1: Field("finalizers", Kind.STRING, repeated=True),
    },
    "NamespaceStatus": {
        1: Field("phase", Kind.STRING),
        2: Field("conditions", Kind.MESSAGE, repeated=True, message="NamespaceCondition"),
    },
    "NamespaceCondition": {
        1: Field("type", Kind.STRING, keep_empty=True),
        2: Field("status", Kind.STRING, keep_empty=True),
        4: Field("lastTransitionTime", Kind.TIME),
        5: Field("reason", Kind.STRING),
        6: Field("message", Kind.STRING),
    },
    # core/v1 workloads, for kubectl's typed commands (create deployment, run).
    # Fields a table lacks must arrive empty (see protobuf.decode_message).
    "Pod": {
        1: Field("metadata", Kind.MESSAGE, message="ObjectMeta", keep_empty=True),
        2: Field("spec", Kind.MESSAGE, message="PodSpec", keep_empty=True),
    },
    "PodTemplateSpec": {
        1: Field("metadata", Kind.MESSAGE, message="ObjectMeta", keep_empty=True),
        2: Field("spec", Kind.MESSAGE, message="PodSpec", keep_empty=True),
    },
    "PodSpec": {
        2: Field("containers", Kind.MESSAGE, repeated=True, message="Container", keep_empty=True),
        3: Field("restartPolicy", Kind.STRING),
        4: Field("terminationGracePeriodSeconds", Kind.INT, keep_empty=True),
        5: Field("activeDeadlineSeconds", Kind.INT, keep_empty=True),
        6: Field("dnsPolicy", Kind.STRING),
        7: Field("nodeSelector", Kind.MAP_STRING),
        8: Field("serviceAccountName", Kind.STRING),
        9: Field("serviceAccount", Kind.STRING),
        10: Field("nodeName", Kind.STRING),
        11: Field("hostNetwork", Kind.BOOL),
        12: Field("hostPID", Kind.BOOL),
        13: Field("hostIPC", Kind.BOOL),
        15: Field("imagePullSecrets", Kind.MESSAGE, repeated=True, message="LocalObjectReference"),
        16: Field("hostname", Kind.STRING),
        17: Field("subdomain", Kind.STRING),
        19: Field("schedulerName", Kind.STRING),
        20: Field("initContainers", Kind.MESSAGE, repeated=True, message="Container"),
        21: Field("automountServiceAccountToken", Kind.BOOL, keep_empty=True),
        24: Field("priorityClassName", Kind.STRING),
        25: Field("priority", Kind.INT, keep_empty=True),
        27: Field("shareProcessNamespace", Kind.BOOL, keep_empty=True),
        29: Field("runtimeClassName", Kind.STRING, keep_empty=True),
        30: Field("enableServiceLinks", Kind.BOOL, keep_empty=True),
        31: Field("preemptionPolicy", Kind.STRING, keep_empty=True),
        35: Field("setHostnameAsFQDN", Kind.BOOL, keep_empty=True),
    },
    "LocalObjectReference": {
        1: Field("name", Kind.STRING),
    },
    "Container": {
        1: Field("name", Kind.STRING, keep_empty=True),
        2: Field("image", Kind.STRING),
        3: Field("command", Kind.STRING, repeated=True),
        4: Field("args", Kind.STRING, repeated=True),
        5: Field("workingDir", Kind.STRING),
        6: Field("ports", Kind.MESSAGE, repeated=True, message="ContainerPort"),
        8: Field("resources", Kind.MESSAGE, message="ResourceRequirements"),
        13: Field("terminationMessagePath", Kind.STRING),
        14: Field("imagePullPolicy", Kind.STRING),
        16: Field("stdin", Kind.BOOL),
        17: Field("stdinOnce", Kind.BOOL),
        18: Field("tty", Kind.BOOL),
        20: Field("terminationMessagePolicy", Kind.STRING),
        24: Field("restartPolicy", Kind.STRING, keep_empty=True),
    },
    "ContainerPort": {
        1: Field("name", Kind.STRING),
        2: Field("hostPort", Kind.INT),
        3: Field("containerPort", Kind.INT, keep_empty=True),
        4: Field("protocol", Kind.STRING),
        5: Field("hostIP", Kind.STRING),
    },
    "ResourceRequirements": {
        1: Field("limits", Kind.MAP_QUANTITY),
        2: Field("requests", Kind.MAP_QUANTITY),
    },
    "LabelSelector": {
        1: Field("matchLabels", Kind.MAP_STRING),
        2: Field(
            "matchExpressions", Kind.MESSAGE, repeated=True, message="LabelSelectorRequirement"
        ),
    },
    "LabelSelectorRequirement": {
        1: Field("key", Kind.STRING, keep_empty=True),
        2: Field("operator", Kind.STRING, keep_empty=True),
        3: Field("values", Kind.STRING, repeated=True),
    },
    "ServiceAccount": {
        1: Field("metadata", Kind.MESSAGE, message="ObjectMeta", keep_empty=True),
        3: Field("imagePullSecrets", Kind.MESSAGE, repeated=True, message="LocalObjectReference"),
        4: Field("automountServiceAccountToken", Kind.BOOL, keep_empty=True),
    },
    "Service": {
        1: Field("metadata", Kind.MESSAGE, message="ObjectMeta", keep_empty=True),
        2: Field("spec", Kind.MESSAGE, message="ServiceSpec", keep_empty=True),
    },
    "ServiceSpec": {
        1: Field("ports", Kind.MESSAGE, repeated=True, message="ServicePort"),
        2: Field("selector", Kind.MAP_STRING),
        3: Field("clusterIP", Kind.STRING),
        4: Field("type", Kind.STRING),
        5: Field("externalIPs", Kind.STRING, repeated=True),
        7: Field("sessionAffinity", Kind.STRING),
        8: Field("loadBalancerIP", Kind.STRING),
        9: Field("loadBalancerSourceRanges", Kind.STRING, repeated=True),
        10: Field("externalName", Kind.STRING),
        11: Field("externalTrafficPolicy", Kind.STRING),
        12: Field("healthCheckNodePort", Kind.INT),
        13: Field("publishNotReadyAddresses", Kind.BOOL),
        18: Field("clusterIPs", Kind.STRING, repeated=True),
    },
    "ServicePort": {
        1: Field("name", Kind.STRING),
        2: Field("protocol", Kind.STRING),
        3: Field("port", Kind.INT, keep_empty=True),
        4: Field("targetPort", Kind.INT_OR_STRING),
        5: Field("nodePort", Kind.INT),
        6: Field("appProtocol", Kind.STRING, keep_empty=True),
    },
    # apps/v1
    "Deployment": {
        1: Field("metadata", Kind.MESSAGE, message="ObjectMeta", keep_empty=True),
        2: Field("spec", Kind.MESSAGE, message="DeploymentSpec", keep_empty=True),
    },
    "DeploymentSpec": {
        1: Field("replicas", Kind.INT, keep_empty=True),
        2: Field("selector", Kind.MESSAGE, message="LabelSelector", keep_empty=True),
        3: Field("template", Kind.MESSAGE, message="PodTemplateSpec", keep_empty=True),
        4: Field("strategy", Kind.MESSAGE, message="DeploymentStrategy"),
        5: Field("minReadySeconds", Kind.INT),
        6: Field("revisionHistoryLimit", Kind.INT, keep_empty=True),
        7: Field("paused", Kind.BOOL),
        9: Field("progressDeadlineSeconds", Kind.INT, keep_empty=True),
    },
    "DeploymentStrategy": {
        1: Field("type", Kind.STRING),
        2: Field("rollingUpdate", Kind.MESSAGE, message="RollingUpdateDeployment", keep_empty=True),
    },
    "RollingUpdateDeployment": {
        1: Field("maxUnavailable", Kind.INT_OR_STRING, keep_empty=True),
        2: Field("maxSurge", Kind.INT_OR_STRING, keep_empty=True),
    },
    # batch/v1
    "Job": {
        1: Field("metadata", Kind.MESSAGE, message="ObjectMeta", keep_empty=True),
        2: Field("spec", Kind.MESSAGE, message="JobSpec", keep_empty=True),
    },
    "JobSpec": {
        1: Field("parallelism", Kind.INT, keep_empty=True),
        2: Field("completions", Kind.INT, keep_empty=True),
        3: Field("activeDeadlineSeconds", Kind.INT, keep_empty=True),
        4: Field("selector", Kind.MESSAGE, message="LabelSelector", keep_empty=True),
        5: Field("manualSelector", Kind.BOOL, keep_empty=True),
        6: Field("template", Kind.MESSAGE, message="PodTemplateSpec", keep_empty=True),
        7: Field("backoffLimit", Kind.INT, keep_empty=True),
        8: Field("ttlSecondsAfterFinished", Kind.INT, keep_empty=True),
        9: Field("completionMode", Kind.STRING, keep_empty=True),
        10: Field("suspend", Kind.BOOL, keep_empty=True),
        14: Field("podReplacementPolicy", Kind.STRING, keep_empty=True),
        15: Field("managedBy", Kind.STRING, keep_empty=True),
    },
    "DeleteOptions": {
        1: Field("gracePeriodSeconds", Kind.INT, keep_empty=True),
        2: Field("preconditions", Kind.MESSAGE, message="Preconditions", keep_empty=True),
        3: Field("orphanDependents", Kind.BOOL, keep_empty=True),
        4: Field("propagationPolicy", Kind.STRING, keep_empty=True),
        5: Field("dryRun", Kind.STRING, repeated=True),
        6: Field("ignoreStoreReadErrorWithClusterBreakingPotential", Kind.BOOL, keep_empty=True),
    },
    "Preconditions": {
        1: Field("uid", Kind.STRING, keep_empty=True),
        2: Field("resourceVersion", Kind.STRING, keep_empty=True),
    },
}

# The kinds a request body may carry: (apiVersion or None for any, kind) → message.
# NB: DeleteOptions is registered in every group version, so clients label it
# with the group version of the resource they delete ("v1", "apps/v1", …) or
# with "meta.k8s.io/v1".
TOP_LEVEL: dict[tuple[str | None, str], str] = {
    ("v1", "Secret"): "Secret",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Namespace"): "Namespace",
    ("v1", "Pod"): "Pod",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Service"): "Service",
    ("apps/v1", "Deployment"): "Deployment",
    ("batch/v1", "Job"): "Job",
    (None, "DeleteOptions"): "DeleteOptions",
}
