{{/*
Pod settings of the task templates: scheduling, security, volumes, and the WorkflowTemplates'
shared spec.
*/}}

{{/* checkov skips of the short-lived helm test pods, each with its reason. */}}
{{- define "odpipe-workflows.testPodCheckovSkips" -}}
checkov.io/skip1: CKV_K8S_8=a one-shot helm test pod has no liveness probe
checkov.io/skip2: CKV_K8S_9=a one-shot helm test pod has no readiness probe
checkov.io/skip3: CKV_K8S_43=image tags are pinned versions; set tasks.<task>.digest or tests.kubectlImage to pin by digest
checkov.io/skip4: CKV_K8S_15=IfNotPresent with immutable version tags; image.pullPolicy sets Always where wanted
{{- end -}}

{{/*
Pod-level settings of a task template: (dict "context" . "task" .Values.tasks.x); a task with
gpu.enabled (train only) adds its GPU node selector and tolerations to the common ones.
*/}}
{{- define "odpipe-workflows.podSettings" -}}
{{- $v := .context.Values -}}
{{- $nodeSelector := deepCopy $v.workflow.nodeSelector -}}
{{- $tolerations := $v.workflow.tolerations -}}
{{- if and .task.gpu .task.gpu.enabled -}}
{{- $nodeSelector = merge (deepCopy .task.gpu.nodeSelector) $nodeSelector -}}
{{- $tolerations = concat .task.gpu.tolerations $tolerations -}}
{{- end -}}
securityContext:
  {{- toYaml $v.workflow.podSecurityContext | nindent 2 }}
{{- with $nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.workflow.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
retryStrategy:
  limit: {{ $v.workflow.retryStrategy.limit }}
  retryPolicy: Always
  {{- with $v.workflow.retryStrategy.nonRetryableExitCodes }}
  expression: 'lastRetry.exitCode not in [{{ range $i, $c := . }}{{ if $i }}, {{ end }}"{{ $c }}"{{ end }}]'
  {{- end }}
  backoff:
    {{- toYaml $v.workflow.retryStrategy.backoff | nindent 4 }}
metadata:
  {{- include "odpipe-workflows.taskPodMetadata" .context | nindent 2 }}
{{- end -}}

{{/*
WorkflowTemplate-level settings: (dict "context" . "train" bool). The memory-backed /dev/shm volume
exists only where the train step runs: odpipe-train, and odpipe-pipeline (a templateRef'd step uses the
volumes of the workflow that runs it).
*/}}
{{- define "odpipe-workflows.workflowSpec" -}}
{{- $v := .context.Values -}}
serviceAccountName: {{ include "odpipe-workflows.serviceAccountName" .context }}
{{- with $v.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
podGC:
  {{- toYaml $v.workflow.podGC | nindent 2 }}
ttlStrategy:
  {{- toYaml $v.workflow.ttlStrategy | nindent 2 }}
{{- with $v.workflow.artifactGC }}
{{- if .strategy }}
artifactGC:
  strategy: {{ .strategy }}
  serviceAccountName: {{ include "odpipe-workflows.artifactGCServiceAccountName" $.context }}
  forceFinalizerRemoval: {{ .forceFinalizerRemoval }}
  # the task pods' labels: the tasks' NetworkPolicy (DNS, S3, the API server) holds for the GC pods too
  podMetadata:
    {{- include "odpipe-workflows.taskPodMetadata" $.context | nindent 4 }}
{{- end }}
{{- end }}
volumes:
  - name: data
    persistentVolumeClaim:
      claimName: {{ include "odpipe-workflows.pvcName" .context }}
  - name: tmp
    emptyDir:
      sizeLimit: {{ $v.workflow.tmpSizeLimit }}
  - name: outputs
    emptyDir: {}
  {{- if .train }}
  - name: dshm
    emptyDir:
      medium: Memory
      sizeLimit: {{ $v.tasks.train.shmSize }}
  {{- end }}
{{- end -}}

{{- define "odpipe-workflows.volumeMounts" -}}
- name: data
  mountPath: /data
- name: tmp
  mountPath: /tmp
- name: outputs
  mountPath: /artifacts/outputs
{{- end -}}
