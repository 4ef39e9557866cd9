{{/*
Names: the chart's, the release's and those of the objects other templates refer to.
Every helper is named odpipe-workflows.*: Helm shares one template namespace between a parent
chart and its subcharts, so a generic prefix (odpipe.*) could be silently redefined by the umbrella.
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

{{/* The CronWorkflow of schedule.enabled. */}}
{{- define "odpipe-workflows.scheduleName" -}}
{{- printf "%s-schedule" (include "odpipe-workflows.fullname" .) | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{/*
train's memoization cache (memoize.*): Argo keeps it in a ConfigMap of the workflow-controller's own
namespace, which several odpipe releases may share, so its default name carries the release's namespace.
*/}}
{{- define "odpipe-workflows.memoConfigMap" -}}
{{- default (printf "%s-%s-train-memo" .Release.Namespace (include "odpipe-workflows.fullname" .)) .Values.memoize.configMap | trunc 253 -}}
{{- end -}}

{{- define "odpipe-workflows.controllerNamespace" -}}
{{- tpl .Values.memoize.controller.namespace . | default .Release.Namespace -}}
{{- end -}}

{{/* The ServiceAccount of Argo's artifact GC pods (workflow.artifactGC). */}}
{{- define "odpipe-workflows.artifactGCServiceAccountName" -}}
{{- $sa := .Values.workflow.artifactGC.serviceAccount -}}
{{- if $sa.create -}}
{{- default (printf "%s-artifact-gc" (include "odpipe-workflows.fullname" .)) $sa.name -}}
{{- else -}}
{{- default "default" $sa.name -}}
{{- end -}}
{{- end -}}
