{{/* Names, labels and the values several templates share. */}}

{{- define "odpipe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "odpipe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else if hasPrefix .Release.Name $name -}}
{{- $name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "odpipe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "odpipe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "odpipe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "odpipe.labels" -}}
helm.sh/chart: {{ include "odpipe.chart" . }}
{{ include "odpipe.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: odpipe
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "odpipe.annotations" -}}
{{- with .Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Labels of the task pods. */}}
{{- define "odpipe.taskLabels" -}}
{{ include "odpipe.selectorLabels" . }}
app.kubernetes.io/component: task
{{ include "odpipe.egressLabel" . }}
{{- end -}}

{{/* What the NetworkPolicy selects: task pods and helm test pods. */}}
{{- define "odpipe.egressLabel" -}}
odpipe.dev/egress: restricted
{{- end -}}

{{/* checkov skips of the short-lived helm test pods, each with its reason. */}}
{{- define "odpipe.testPodCheckovSkips" -}}
checkov.io/skip1: CKV_K8S_8=a one-shot helm test pod has no liveness probe
checkov.io/skip2: CKV_K8S_9=a one-shot helm test pod has no readiness probe
checkov.io/skip3: CKV_K8S_43=image tags are pinned versions; set image.tag or tests.kubectlImage to a digest to pin by digest
checkov.io/skip4: CKV_K8S_15=IfNotPresent with immutable version tags; image.pullPolicy sets Always where wanted
{{- end -}}

{{- define "odpipe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (printf "%s-workflow" (include "odpipe.fullname" .)) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "odpipe.secretName" -}}
{{- if .Values.credentials.existingSecret -}}
{{- .Values.credentials.existingSecret -}}
{{- else -}}
{{- default (printf "%s-s3" (include "odpipe.fullname" .)) .Values.credentials.secretName -}}
{{- end -}}
{{- end -}}

{{- define "odpipe.pvcName" -}}
{{- default (printf "%s-datasets" (include "odpipe.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}

{{/* The S3 endpoint as host:port (tpl'd, so the umbrella can name its MinIO Service). */}}
{{- define "odpipe.s3Endpoint" -}}
{{- $endpoint := tpl (required "s3.endpoint is required: host:port of the S3 service, no scheme" .Values.s3.endpoint) . -}}
{{- if regexMatch "^[a-zA-Z][a-zA-Z0-9+.-]*://" $endpoint -}}
{{- fail (printf "s3.endpoint %q must be host:port without a scheme (set s3.insecure for http)" $endpoint) -}}
{{- end -}}
{{- $endpoint -}}
{{- end -}}

{{- define "odpipe.s3Url" -}}
{{- printf "%s://%s" (ternary "http" "https" .Values.s3.insecure) (include "odpipe.s3Endpoint" .) -}}
{{- end -}}

{{/* image reference of one task: (dict "task" .Values.tasks.x "root" $) */}}
{{- define "odpipe.image" -}}
{{- $tag := .task.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- $registry := .task.registry | default .root.Values.image.registry -}}
{{- if and .task.variant (ne .task.variant "cpu") -}}
{{- $tag = printf "%s-%s" $tag .task.variant -}}
{{- end -}}
{{- printf "%s/%s:%s" $registry .task.repository $tag -}}
{{- end -}}

{{/* The environment every task container gets: S3 from the Secret, buckets, workflow identity. */}}
{{- define "odpipe.taskEnv" -}}
- name: AWS_ENDPOINT_URL
  value: {{ include "odpipe.s3Url" . | quote }}
- name: AWS_DEFAULT_REGION
  value: {{ .Values.s3.region | quote }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "odpipe.secretName" . }}
      key: {{ .Values.credentials.accessKeyKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "odpipe.secretName" . }}
      key: {{ .Values.credentials.secretKeyKey }}
- name: ODPIPE_DATASETS_BUCKET
  value: {{ .Values.s3.buckets.datasets | quote }}
- name: ODPIPE_MODELS_BUCKET
  value: {{ .Values.s3.buckets.models | quote }}
- name: ODPIPE_ARTIFACTS_BUCKET
  value: {{ .Values.s3.buckets.artifacts | quote }}
- name: ODPIPE_WORKFLOW_NAME
  value: "{{`{{workflow.name}}`}}"
- name: ODPIPE_WORKFLOW_UID
  value: "{{`{{workflow.uid}}`}}"
{{- end -}}

{{/* Pod-level settings of a task template: (dict "root" $ "task" .Values.tasks.x); a task with
gpu.enabled adds its GPU node selector and tolerations to the common ones. */}}
{{- define "odpipe.podSettings" -}}
{{- $v := .root.Values -}}
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
  labels:
    {{- include "odpipe.taskLabels" .root | nindent 4 }}
{{- end -}}

{{/* WorkflowTemplate-level settings. */}}
{{- define "odpipe.workflowSpec" -}}
serviceAccountName: {{ include "odpipe.serviceAccountName" . }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
podGC:
  {{- toYaml .Values.workflow.podGC | nindent 2 }}
ttlStrategy:
  {{- toYaml .Values.workflow.ttlStrategy | nindent 2 }}
volumes:
  - name: data
    persistentVolumeClaim:
      claimName: {{ include "odpipe.pvcName" . }}
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.workflow.tmpSizeLimit }}
  - name: outputs
    emptyDir: {}
  - name: dshm
    emptyDir:
      medium: Memory
      sizeLimit: {{ .Values.tasks.train.shmSize }}
{{- end -}}

{{/* An S3 artifact source in one of our buckets: (dict "root" $ "bucket" "datasets" "key" "...") */}}
{{- define "odpipe.s3Artifact" -}}
s3:
  endpoint: {{ include "odpipe.s3Endpoint" .root }}
  bucket: {{ .bucket }}
  key: {{ .key | quote }}
  region: {{ .root.Values.s3.region }}
  insecure: {{ .root.Values.s3.insecure }}
  accessKeySecret:
    name: {{ include "odpipe.secretName" .root }}
    key: {{ .root.Values.credentials.accessKeyKey }}
  secretKeySecret:
    name: {{ include "odpipe.secretName" .root }}
    key: {{ .root.Values.credentials.secretKeyKey }}
{{- end -}}

{{- define "odpipe.volumeMounts" -}}
- name: data
  mountPath: /data
- name: tmp
  mountPath: /tmp
- name: outputs
  mountPath: /artifacts/outputs
{{- end -}}
