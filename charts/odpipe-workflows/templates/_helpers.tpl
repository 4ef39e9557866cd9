{{/*
Names, labels, metadata and the values several templates share. Every helper is named
odpipe-workflows.*: Helm shares one template namespace between a parent chart and its subcharts, so a
generic prefix (odpipe.*) could be silently redefined by the umbrella chart.
*/}}

{{- define "odpipe-workflows.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "odpipe-workflows.fullname" -}}
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

{{- define "odpipe-workflows.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: (dict "context" . "component" "task"); component is optional. */}}
{{- define "odpipe-workflows.selectorLabels" -}}
app.kubernetes.io/name: {{ include "odpipe-workflows.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/*
Labels of a resource: (dict "context" . "component" "workflow" ["labels" (dict ...)]). The standard
labels win over extra labels, which win over commonLabels.
*/}}
{{- define "odpipe-workflows.labels" -}}
{{- $ctx := .context -}}
{{- $labels := dict
  "helm.sh/chart" (include "odpipe-workflows.chart" $ctx)
  "app.kubernetes.io/version" ($ctx.Chart.AppVersion | toString)
  "app.kubernetes.io/managed-by" $ctx.Release.Service
  "app.kubernetes.io/part-of" "odpipe" -}}
{{- $selector := include "odpipe-workflows.selectorLabels" (dict "context" $ctx "component" .component) | fromYaml -}}
{{- toYaml (merge $labels $selector (.labels | default dict) ($ctx.Values.commonLabels | default dict)) -}}
{{- end -}}

{{/*
Annotations of a resource: the resource's own (they win) plus commonAnnotations:
(dict "context" . ["annotations" (dict ...)]). Renders nothing when there are none.
*/}}
{{- define "odpipe-workflows.annotations" -}}
{{- $annotations := merge (dict) (.annotations | default dict) (.context.Values.commonAnnotations | default dict) -}}
{{- with $annotations -}}
{{- toYaml . -}}
{{- end -}}
{{- end -}}

{{/*
The metadata of every resource the chart renders, so that commonLabels and commonAnnotations reach all
of them: (dict "context" . "name" "..." "component" "..." ["labels" (dict)] ["annotations" (dict)]).
*/}}
{{- define "odpipe-workflows.metadata" -}}
name: {{ .name }}
namespace: {{ .context.Release.Namespace }}
labels:
  {{- include "odpipe-workflows.labels" . | nindent 2 }}
{{- with include "odpipe-workflows.annotations" . }}
annotations:
  {{- . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* What the NetworkPolicy selects, besides the selector labels: task pods and helm test pods. */}}
{{- define "odpipe-workflows.egressLabel" -}}
odpipe.dev/egress: restricted
{{- end -}}

{{/* Labels and annotations of the task pods (an Argo template's metadata). */}}
{{- define "odpipe-workflows.taskPodMetadata" -}}
{{- $labels := include "odpipe-workflows.selectorLabels" (dict "context" . "component" "task") | fromYaml -}}
{{- $labels = merge $labels (include "odpipe-workflows.egressLabel" . | fromYaml) (.Values.commonLabels | default dict) -}}
labels:
  {{- toYaml $labels | nindent 2 }}
{{- with include "odpipe-workflows.annotations" (dict "context" .) }}
annotations:
  {{- . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* checkov skips of the short-lived helm test pods, each with its reason. */}}
{{- define "odpipe-workflows.testPodCheckovSkips" -}}
checkov.io/skip1: CKV_K8S_8=a one-shot helm test pod has no liveness probe
checkov.io/skip2: CKV_K8S_9=a one-shot helm test pod has no readiness probe
checkov.io/skip3: CKV_K8S_43=image tags are pinned versions; set tasks.<task>.digest or tests.kubectlImage to pin by digest
checkov.io/skip4: CKV_K8S_15=IfNotPresent with immutable version tags; image.pullPolicy sets Always where wanted
{{- end -}}

{{- define "odpipe-workflows.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (printf "%s-workflow" (include "odpipe-workflows.fullname" .)) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "odpipe-workflows.secretName" -}}
{{- if .Values.credentials.existingSecret -}}
{{- .Values.credentials.existingSecret -}}
{{- else -}}
{{- default (printf "%s-s3" (include "odpipe-workflows.fullname" .)) .Values.credentials.secretName -}}
{{- end -}}
{{- end -}}

{{- define "odpipe-workflows.pvcName" -}}
{{- default (printf "%s-datasets" (include "odpipe-workflows.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}

{{/* The S3 endpoint as host:port (tpl'd, so the umbrella can name its MinIO Service). */}}
{{- define "odpipe-workflows.s3Endpoint" -}}
{{- $endpoint := tpl (required "s3.endpoint is required: host:port of the S3 service, no scheme" .Values.s3.endpoint) . -}}
{{- if regexMatch "^[a-zA-Z][a-zA-Z0-9+.-]*://" $endpoint -}}
{{- fail (printf "s3.endpoint %q must be host:port without a scheme (set s3.insecure for http)" $endpoint) -}}
{{- end -}}
{{- $endpoint -}}
{{- end -}}

{{- define "odpipe-workflows.s3Url" -}}
{{- printf "%s://%s" (ternary "http" "https" .Values.s3.insecure) (include "odpipe-workflows.s3Endpoint" .) -}}
{{- end -}}

{{/*
Image reference of one task, Bitnami style: (dict "image" .Values.tasks.x "context" .).
Registry: global.imageRegistry, else the task's registry, else image.registry. A digest pins the image
(<registry>/<repository>@sha256:...) and overrides the tag and the variant; otherwise the tag is the
task's tag, else image.tag, else the chart's appVersion, with "-<variant>" appended unless cpu.
*/}}
{{- define "odpipe-workflows.image" -}}
{{- $ctx := .context -}}
{{- $global := $ctx.Values.global | default dict -}}
{{- $registry := $global.imageRegistry | default .image.registry | default $ctx.Values.image.registry -}}
{{- if .image.digest -}}
{{- printf "%s/%s@%s" $registry .image.repository .image.digest -}}
{{- else -}}
{{- $tag := .image.tag | default $ctx.Values.image.tag | default $ctx.Chart.AppVersion | toString -}}
{{- if and .image.variant (ne .image.variant "cpu") -}}
{{- $tag = printf "%s-%s" $tag .image.variant -}}
{{- end -}}
{{- printf "%s/%s:%s" $registry .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
The environment of every task container: (dict "context" . "task" .Values.tasks.x). S3 from the Secret,
the buckets, the workflow's identity and the image the step runs (recorded in the model card).
*/}}
{{- define "odpipe-workflows.taskEnv" -}}
{{- $ctx := .context -}}
- name: AWS_ENDPOINT_URL
  value: {{ include "odpipe-workflows.s3Url" $ctx | quote }}
- name: AWS_DEFAULT_REGION
  value: {{ $ctx.Values.s3.region | quote }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "odpipe-workflows.secretName" $ctx }}
      key: {{ $ctx.Values.credentials.accessKeyKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "odpipe-workflows.secretName" $ctx }}
      key: {{ $ctx.Values.credentials.secretKeyKey }}
- name: ODPIPE_DATASETS_BUCKET
  value: {{ $ctx.Values.s3.buckets.datasets | quote }}
- name: ODPIPE_MODELS_BUCKET
  value: {{ $ctx.Values.s3.buckets.models | quote }}
- name: ODPIPE_ARTIFACTS_BUCKET
  value: {{ $ctx.Values.s3.buckets.artifacts | quote }}
- name: ODPIPE_WORKFLOW_NAME
  value: "{{`{{workflow.name}}`}}"
- name: ODPIPE_WORKFLOW_UID
  value: "{{`{{workflow.uid}}`}}"
- name: ODPIPE_IMAGE
  value: {{ include "odpipe-workflows.image" (dict "image" .task "context" $ctx) | quote }}
- name: ODPIPE_IMAGE_DIGEST
  value: {{ .task.digest | default "" | quote }}
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

{{/* An S3 artifact source in one of our buckets: (dict "context" . "bucket" "datasets" "key" "...") */}}
{{- define "odpipe-workflows.s3Artifact" -}}
{{- $ctx := .context -}}
s3:
  endpoint: {{ include "odpipe-workflows.s3Endpoint" $ctx }}
  bucket: {{ .bucket }}
  key: {{ .key | quote }}
  region: {{ $ctx.Values.s3.region }}
  insecure: {{ $ctx.Values.s3.insecure }}
  accessKeySecret:
    name: {{ include "odpipe-workflows.secretName" $ctx }}
    key: {{ $ctx.Values.credentials.accessKeyKey }}
  secretKeySecret:
    name: {{ include "odpipe-workflows.secretName" $ctx }}
    key: {{ $ctx.Values.credentials.secretKeyKey }}
{{- end -}}

{{- define "odpipe-workflows.volumeMounts" -}}
- name: data
  mountPath: /data
- name: tmp
  mountPath: /tmp
- name: outputs
  mountPath: /artifacts/outputs
{{- end -}}

{{/*
The WorkflowTemplate parameters, each written once: its default (from pipeline.* in values.yaml; the
image inputs default to empty, annotations-key has none), its description and enum, and the steps that
take it. odpipe-pipeline's arguments, each step template's arguments and inputs, and the DAG's wiring
are all rendered from this table.
*/}}
{{- define "odpipe-workflows.parameterTable" -}}
{{- $p := .Values.pipeline -}}
- name: annotations-key
  steps: [check-inputs, prepare]
  description: key of the COCO instances JSON in the datasets bucket
- name: images-prefix
  steps: [check-inputs, prepare]
  value: ""
  description: images under this prefix of the datasets bucket, synced to /data/raw (or use images-path)
- name: images-path
  steps: [prepare]
  value: ""
  description: images already on the datasets volume, relative to /data
- name: model-name
  steps: [export-deploy]
  value: {{ $p.modelName | quote }}
  description: model name in the model repository (<name>/<version>/model.onnx)
- name: model
  steps: [train]
  value: {{ $p.model | quote }}
  description: model YAML (yolo11n.yaml, ...) or a .pt checkpoint on the datasets volume
- name: epochs
  steps: [train]
  value: {{ $p.epochs | quote }}
- name: imgsz
  steps: [train]
  value: {{ $p.imgsz | quote }}
- name: batch
  steps: [train]
  value: {{ $p.batch | quote }}
- name: val-fraction
  steps: [prepare]
  value: {{ $p.valFraction | quote }}
- name: seed
  steps: [prepare, train]
  value: {{ $p.seed | quote }}
- name: strict
  steps: [prepare]
  value: {{ $p.strict | quote }}
  enum: ["true", "false"]
- name: min-map50-95
  steps: [export-deploy]
  value: {{ $p.minMap5095 | quote }}
  description: quality gate, minimum COCO mAP50-95 ("" = off)
- name: require-improvement
  steps: [export-deploy]
  value: {{ $p.requireImprovement | quote }}
  enum: ["true", "false"]
- name: precision
  steps: [export-deploy]
  value: {{ $p.precision | quote }}
  enum: ["fp32", "int8"]
  description: published model precision (int8 = static quantization calibrated on train images)
{{- end -}}

{{/*
Parameters with their defaults: (dict "context" . "step" "train" ["inputs" true]). Without a step, all
of them (odpipe-pipeline's arguments); inputs adds description and enum (a step template's inputs).
*/}}
{{- define "odpipe-workflows.parameters" -}}
{{- include "odpipe-workflows.parameterList" . | trim -}}
{{- end -}}

{{- define "odpipe-workflows.parameterList" -}}
{{- $step := .step -}}
{{- $inputs := .inputs -}}
{{- range include "odpipe-workflows.parameterTable" .context | fromYamlArray }}
{{- if or (not $step) (has $step .steps) }}
- name: {{ .name }}
  {{- if hasKey . "value" }}
  value: {{ .value | toString | quote }}
  {{- end }}
  {{- if $inputs }}
  {{- with .enum }}
  enum: {{ toJson . }}
  {{- end }}
  {{- with .description }}
  description: {{ . | quote }}
  {{- end }}
  {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A DAG task's parameters, each from the workflow's: (dict "context" . "step" "train"). */}}
{{- define "odpipe-workflows.dagParameters" -}}
{{- include "odpipe-workflows.dagParameterList" . | trim -}}
{{- end -}}

{{- define "odpipe-workflows.dagParameterList" -}}
{{- $step := .step -}}
{{- range include "odpipe-workflows.parameterTable" .context | fromYamlArray }}
{{- if has $step .steps }}
- name: {{ .name }}
  value: "{{ printf "{{workflow.parameters.%s}}" .name }}"
{{- end }}
{{- end }}
{{- end -}}

{{/*
One release per namespace. The WorkflowTemplate names are fixed (users `argo submit --from
workflowtemplate/odpipe-pipeline`, and odpipe-pipeline refers to the steps by name), and so is the name of
the ConfigMap where Argo looks for a namespace's default artifact repository. On install and upgrade
(lookup answers nothing in `helm template`), fail with an explanation when another release, or no
release, already owns one of them. Every lookup of a kind that may not exist yet is guarded by
.Capabilities.APIVersions.Has.
*/}}
{{- define "odpipe-workflows.assertOneReleasePerNamespace" -}}
{{- $ns := .Release.Namespace -}}
{{- $owned := list -}}
{{- /* On a cluster without Argo's CRDs yet (the umbrella installs them in this same release), lookup of
a WorkflowTemplate fails ("could not find the requested resource"): and no WorkflowTemplate can exist. */ -}}
{{- if .Capabilities.APIVersions.Has "argoproj.io/v1alpha1/WorkflowTemplate" -}}
{{- $owned = append $owned (list "argoproj.io/v1alpha1" "WorkflowTemplate" "odpipe-pipeline") -}}
{{- end -}}
{{- if .Values.artifactRepository.create -}}
{{- $owned = append $owned (list "v1" "ConfigMap" .Values.artifactRepository.configMapName) -}}
{{- end -}}
{{- range $owned -}}
{{- $existing := lookup (index . 0) (index . 1) $ns (index . 2) -}}
{{- if $existing -}}
{{- $owner := index ($existing.metadata.annotations | default dict) "meta.helm.sh/release-name" | default "" -}}
{{- if ne $owner $.Release.Name -}}
{{- $by := ternary (printf "Helm release %q" $owner) "something outside Helm" (ne $owner "") -}}
{{- if eq (index . 1) "ConfigMap" -}}
{{- fail (printf "ConfigMap %s/%s already exists, created by %s. Argo reads a namespace's default artifact repository from this fixed name, so odpipe-workflows installs once per namespace: install into another namespace, or set artifactRepository.create=false to use the existing repository." $ns (index . 2) $by) -}}
{{- else -}}
{{- fail (printf "WorkflowTemplate %s/%s already exists, created by %s. The WorkflowTemplate names (odpipe-pipeline, odpipe-prepare, odpipe-train, odpipe-export-deploy) are fixed, since users submit them by name, so odpipe installs once per namespace: upgrade that release, or install into another namespace." $ns (index . 2) $by) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
