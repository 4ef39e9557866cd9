{{/*
Labels, annotations and metadata of every object and of the task pods Argo creates.
*/}}

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
namespace: {{ .namespace | default .context.Release.Namespace }}
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
