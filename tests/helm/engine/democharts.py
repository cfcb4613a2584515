"""Charts the engine tests install: written from file name → text into a directory.

``DEMO`` has a ConfigMap, a Deployment (``simulate`` sets the devcluster's
simulated-kubelet annotation: ``fail`` makes it never ready), a Service, a
pre-install/pre-upgrade Job hook, a test Pod hook and NOTES.txt.
"""

from __future__ import annotations

import pathlib
import textwrap
from collections.abc import Mapping

DEMO: dict[str, str] = {
    "Chart.yaml": """
        apiVersion: v2
        name: demo
        version: 0.1.0
        appVersion: "1.0"
    """,
    "values.yaml": """
        replicas: 1
        image: nginx:1.27
        greeting: hello
        simulate: ""
        testSimulate: ""
    """,
    "templates/NOTES.txt": """
        Thanks for installing {{ .Release.Name }}.
    """,
    "templates/configmap.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-cm
        data:
          greeting: {{ .Values.greeting | quote }}
    """,
    "templates/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ .Release.Name }}-web
          {{- with .Values.simulate }}
          annotations:
            devcluster.headwater.dev/simulate: {{ . }}
          {{- end }}
        spec:
          replicas: {{ .Values.replicas }}
          selector:
            matchLabels: {app: {{ .Release.Name }}-web}
          template:
            metadata:
              labels: {app: {{ .Release.Name }}-web}
            spec:
              containers:
              - name: web
                image: {{ .Values.image }}
    """,
    "templates/service.yaml": """
        apiVersion: v1
        kind: Service
        metadata:
          name: {{ .Release.Name }}-svc
        spec:
          selector: {app: {{ .Release.Name }}-web}
          ports: [{port: 80, targetPort: 80}]
    """,
    "templates/hooks.yaml": """
        apiVersion: batch/v1
        kind: Job
        metadata:
          name: {{ .Release.Name }}-migrate
          annotations:
            helm.sh/hook: pre-install,pre-upgrade
            helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
        spec:
          template:
            spec:
              restartPolicy: Never
              containers: [{name: migrate, image: busybox}]
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: {{ .Release.Name }}-smoke
          annotations:
            helm.sh/hook: test
            {{- with .Values.testSimulate }}
            devcluster.headwater.dev/simulate: {{ . }}
            {{- end }}
        spec:
          restartPolicy: Never
          containers: [{name: smoke, image: busybox}]
    """,
}


def write(root: pathlib.Path, files: Mapping[str, str] = DEMO) -> pathlib.Path:
    """Write ``files`` (dedented) under ``root``; returns ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root
