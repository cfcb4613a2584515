"""Message tables of the kinds kubectl's typed ``create`` commands send, beyond ``protomessages``.

Field numbers are those of the Kubernetes ``generated.proto`` files of
k8s.io/api rbac/v1 (Role, ClusterRole, RoleBinding, ClusterRoleBinding,
PolicyRule, AggregationRule, Subject, RoleRef), batch/v1 (CronJob,
CronJobSpec, JobTemplateSpec), networking/v1 (Ingress and its spec types),
policy/v1 (PodDisruptionBudget), scheduling/v1 (PriorityClass),
authentication/v1 (TokenRequest, BoundObjectReference), autoscaling/v2
(HorizontalPodAutoscaler, sent by ``kubectl autoscale``, with its spec, metric
sources and scaling behavior; its status is left out, so only an empty one is
accepted) and core/v1 (ResourceQuota, ScopeSelector,
TypedLocalObjectReference). ``keep_empty``
follows the Go types: pointers and fields without ``omitempty``. The tables'
messages may refer to those of ``protomessages`` (ObjectMeta, LabelSelector,
JobSpec, …) and the other way round; ``protobuf`` looks both up as one set.
Pure data, no I/O.
"""

from __future__ import annotations

from devcluster.serializers import protomessages

Field = protomessages.Field
Kind = protomessages.Kind
_META = Field("metadata", Kind.MESSAGE, message="ObjectMeta", keep_empty=True)

MESSAGES: dict[str, protomessages.Message] = {
    # rbac.authorization.k8s.io/v1
    "Role": {
        1: _META,
        2: Field("rules", Kind.MESSAGE, repeated=True, message="PolicyRule"),
    },
    "ClusterRole": {
        1: _META,
        2: Field("rules", Kind.MESSAGE, repeated=True, message="PolicyRule"),
        3: Field("aggregationRule", Kind.MESSAGE, message="AggregationRule", keep_empty=True),
    },
    "PolicyRule": {
        1: Field("verbs", Kind.STRING, repeated=True),
        2: Field("apiGroups", Kind.STRING, repeated=True),
        3: Field("resources", Kind.STRING, repeated=True),
        4: Field("resourceNames", Kind.STRING, repeated=True),
        5: Field("nonResourceURLs", Kind.STRING, repeated=True),
    },
    "AggregationRule": {
        1: Field("clusterRoleSelectors", Kind.MESSAGE, repeated=True, message="LabelSelector"),
    },
    "RoleBinding": {
        1: _META,
        2: Field("subjects", Kind.MESSAGE, repeated=True, message="Subject"),
        3: Field("roleRef", Kind.MESSAGE, message="RoleRef", keep_empty=True),
    },
    "ClusterRoleBinding": {
        1: _META,
        2: Field("subjects", Kind.MESSAGE, repeated=True, message="Subject"),
        3: Field("roleRef", Kind.MESSAGE, message="RoleRef", keep_empty=True),
    },
    "Subject": {
        1: Field("kind", Kind.STRING, keep_empty=True),
        2: Field("apiGroup", Kind.STRING),
        3: Field("name", Kind.STRING, keep_empty=True),
        4: Field("namespace", Kind.STRING),
    },
    "RoleRef": {
        1: Field("apiGroup", Kind.STRING, keep_empty=True),
        2: Field("kind", Kind.STRING, keep_empty=True),
        3: Field("name", Kind.STRING, keep_empty=True),
    },
    # batch/v1 (Job and JobSpec are in protomessages)
    "CronJob": {
        1: _META,
        2: Field("spec", Kind.MESSAGE, message="CronJobSpec", keep_empty=True),
    },
    "CronJobSpec": {
        1: Field("schedule", Kind.STRING, keep_empty=True),
        2: Field("startingDeadlineSeconds", Kind.INT, keep_empty=True),
        3: Field("concurrencyPolicy", Kind.STRING),
        4: Field("suspend", Kind.BOOL, keep_empty=True),
        5: Field("jobTemplate", Kind.MESSAGE, message="JobTemplateSpec", keep_empty=True),
        6: Field("successfulJobsHistoryLimit", Kind.INT, keep_empty=True),
        7: Field("failedJobsHistoryLimit", Kind.INT, keep_empty=True),
        8: Field("timeZone", Kind.STRING, keep_empty=True),
    },
    "JobTemplateSpec": {
        1: _META,
        2: Field("spec", Kind.MESSAGE, message="JobSpec", keep_empty=True),
    },
    # networking.k8s.io/v1
    "Ingress": {
        1: _META,
        2: Field("spec", Kind.MESSAGE, message="IngressSpec", keep_empty=True),
    },
    "IngressSpec": {
        1: Field("defaultBackend", Kind.MESSAGE, message="IngressBackend", keep_empty=True),
        2: Field("tls", Kind.MESSAGE, repeated=True, message="IngressTLS"),
        3: Field("rules", Kind.MESSAGE, repeated=True, message="IngressRule"),
        4: Field("ingressClassName", Kind.STRING, keep_empty=True),
    },
    "IngressBackend": {
        3: Field("resource", Kind.MESSAGE, message="TypedLocalObjectReference", keep_empty=True),
        4: Field("service", Kind.MESSAGE, message="IngressServiceBackend", keep_empty=True),
    },
    "IngressServiceBackend": {
        1: Field("name", Kind.STRING, keep_empty=True),
        2: Field("port", Kind.MESSAGE, message="ServiceBackendPort", keep_empty=True),
    },
    "ServiceBackendPort": {
        1: Field("name", Kind.STRING),
        2: Field("number", Kind.INT),
    },
    "IngressTLS": {
        1: Field("hosts", Kind.STRING, repeated=True),
        2: Field("secretName", Kind.STRING),
    },
    "IngressRule": {
        1: Field("host", Kind.STRING),
        # NB: IngressRuleValue is embedded inline: "http" sits in the rule itself.
        2: Field("ingressRuleValue", Kind.MESSAGE, message="IngressRuleValue", inline=True),
    },
    "IngressRuleValue": {
        1: Field("http", Kind.MESSAGE, message="HTTPIngressRuleValue", keep_empty=True),
    },
    "HTTPIngressRuleValue": {
        1: Field("paths", Kind.MESSAGE, repeated=True, message="HTTPIngressPath"),
    },
    "HTTPIngressPath": {
        1: Field("path", Kind.STRING),
        2: Field("backend", Kind.MESSAGE, message="IngressBackend", keep_empty=True),
        3: Field("pathType", Kind.STRING, keep_empty=True),
    },
    "TypedLocalObjectReference": {
        1: Field("apiGroup", Kind.STRING, keep_empty=True),
        2: Field("kind", Kind.STRING, keep_empty=True),
        3: Field("name", Kind.STRING, keep_empty=True),
    },
    # policy/v1
    "PodDisruptionBudget": {
        1: _META,
        2: Field("spec", Kind.MESSAGE, message="PodDisruptionBudgetSpec", keep_empty=True),
    },
    "PodDisruptionBudgetSpec": {
        1: Field("minAvailable", Kind.INT_OR_STRING, keep_empty=True),
        2: Field("selector", Kind.MESSAGE, message="LabelSelector", keep_empty=True),
        3: Field("maxUnavailable", Kind.INT_OR_STRING, keep_empty=True),
        4: Field("unhealthyPodEvictionPolicy", Kind.STRING, keep_empty=True),
    },
    # scheduling.k8s.io/v1
    "PriorityClass": {
        1: _META,
        2: Field("value", Kind.INT, keep_empty=True),
        3: Field("globalDefault", Kind.BOOL),
        4: Field("description", Kind.STRING),
        5: Field("preemptionPolicy", Kind.STRING, keep_empty=True),
    },
    # core/v1 ResourceQuota
    "ResourceQuota": {
        1: _META,
        2: Field("spec", Kind.MESSAGE, message="ResourceQuotaSpec", keep_empty=True),
    },
    "ResourceQuotaSpec": {
        1: Field("hard", Kind.MAP_QUANTITY),
        2: Field("scopes", Kind.STRING, repeated=True),
        3: Field("scopeSelector", Kind.MESSAGE, message="ScopeSelector", keep_empty=True),
    },
    "ScopeSelector": {
        1: Field(
            "matchExpressions",
            Kind.MESSAGE,
            repeated=True,
            message="ScopedResourceSelectorRequirement",
        ),
    },
    "ScopedResourceSelectorRequirement": {
        1: Field("scopeName", Kind.STRING, keep_empty=True),
        2: Field("operator", Kind.STRING, keep_empty=True),
        3: Field("values", Kind.STRING, repeated=True),
    },
    # authentication.k8s.io/v1, the body of POST serviceaccounts/<name>/token
    "TokenRequest": {
        1: _META,
        2: Field("spec", Kind.MESSAGE, message="TokenRequestSpec", keep_empty=True),
    },
    "TokenRequestSpec": {
        1: Field("audiences", Kind.STRING, repeated=True),
        3: Field("boundObjectRef", Kind.MESSAGE, message="BoundObjectReference", keep_empty=True),
        4: Field("expirationSeconds", Kind.INT, keep_empty=True),
    },
    "BoundObjectReference": {
        1: Field("kind", Kind.STRING),
        2: Field("apiVersion", Kind.STRING),
        3: Field("name", Kind.STRING),
        4: Field("uid", Kind.STRING),
    },
    # autoscaling/v2, the body of kubectl autoscale
    "HorizontalPodAutoscaler": {
        1: _META,
        2: Field("spec", Kind.MESSAGE, message="HorizontalPodAutoscalerSpec", keep_empty=True),
    },
    "HorizontalPodAutoscalerSpec": {
        1: Field(
            "scaleTargetRef", Kind.MESSAGE, message="CrossVersionObjectReference", keep_empty=True
        ),
        2: Field("minReplicas", Kind.INT, keep_empty=True),
        3: Field("maxReplicas", Kind.INT, keep_empty=True),
        4: Field("metrics", Kind.MESSAGE, repeated=True, message="MetricSpec"),
        5: Field(
            "behavior", Kind.MESSAGE, message="HorizontalPodAutoscalerBehavior", keep_empty=True
        ),
    },
    "CrossVersionObjectReference": {
        1: Field("kind", Kind.STRING, keep_empty=True),
        2: Field("name", Kind.STRING, keep_empty=True),
        3: Field("apiVersion", Kind.STRING),
    },
    "MetricSpec": {
        1: Field("type", Kind.STRING, keep_empty=True),
        2: Field("object", Kind.MESSAGE, message="ObjectMetricSource", keep_empty=True),
        3: Field("pods", Kind.MESSAGE, message="PodsMetricSource", keep_empty=True),
        4: Field("resource", Kind.MESSAGE, message="ResourceMetricSource", keep_empty=True),
        5: Field("external", Kind.MESSAGE, message="ExternalMetricSource", keep_empty=True),
        7: Field(
            "containerResource",
            Kind.MESSAGE,
            message="ContainerResourceMetricSource",
            keep_empty=True,
        ),
    },
    "ObjectMetricSource": {
        1: Field(
            "describedObject", Kind.MESSAGE, message="CrossVersionObjectReference", keep_empty=True
        ),
        2: Field("target", Kind.MESSAGE, message="MetricTarget", keep_empty=True),
        3: Field("metric", Kind.MESSAGE, message="MetricIdentifier", keep_empty=True),
    },
    "PodsMetricSource": {
        1: Field("metric", Kind.MESSAGE, message="MetricIdentifier", keep_empty=True),
        2: Field("target", Kind.MESSAGE, message="MetricTarget", keep_empty=True),
    },
    "ResourceMetricSource": {
        1: Field("name", Kind.STRING, keep_empty=True),
        2: Field("target", Kind.MESSAGE, message="MetricTarget", keep_empty=True),
    },
    "ContainerResourceMetricSource": {
        1: Field("name", Kind.STRING, keep_empty=True),
        2: Field("target", Kind.MESSAGE, message="MetricTarget", keep_empty=True),
        3: Field("container", Kind.STRING, keep_empty=True),
    },
    "ExternalMetricSource": {
        1: Field("metric", Kind.MESSAGE, message="MetricIdentifier", keep_empty=True),
        2: Field("target", Kind.MESSAGE, message="MetricTarget", keep_empty=True),
    },
    "MetricIdentifier": {
        1: Field("name", Kind.STRING, keep_empty=True),
        2: Field("selector", Kind.MESSAGE, message="LabelSelector", keep_empty=True),
    },
    "MetricTarget": {
        1: Field("type", Kind.STRING, keep_empty=True),
        2: Field("value", Kind.QUANTITY),
        3: Field("averageValue", Kind.QUANTITY),
        4: Field("averageUtilization", Kind.INT, keep_empty=True),
    },
    "HorizontalPodAutoscalerBehavior": {
        1: Field("scaleUp", Kind.MESSAGE, message="HPAScalingRules", keep_empty=True),
        2: Field("scaleDown", Kind.MESSAGE, message="HPAScalingRules", keep_empty=True),
    },
    "HPAScalingRules": {
        1: Field("selectPolicy", Kind.STRING, keep_empty=True),
        2: Field("policies", Kind.MESSAGE, repeated=True, message="HPAScalingPolicy"),
        3: Field("stabilizationWindowSeconds", Kind.INT, keep_empty=True),
        4: Field("tolerance", Kind.QUANTITY),
    },
    "HPAScalingPolicy": {
        1: Field("type", Kind.STRING, keep_empty=True),
        2: Field("value", Kind.INT, keep_empty=True),
        3: Field("periodSeconds", Kind.INT, keep_empty=True),
    },
}

TOP_LEVEL: dict[tuple[str | None, str], str] = {
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "ClusterRoleBinding",
    ("batch/v1", "CronJob"): "CronJob",
    ("networking.k8s.io/v1", "Ingress"): "Ingress",
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("scheduling.k8s.io/v1", "PriorityClass"): "PriorityClass",
    ("v1", "ResourceQuota"): "ResourceQuota",
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "HorizontalPodAutoscaler",
}
