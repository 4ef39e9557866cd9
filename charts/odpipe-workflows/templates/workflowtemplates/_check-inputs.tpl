{{/*
check-inputs (workflow.checkInputs), run by prepare's own container before it reads anything: it names a
wrong bucket, annotations key, images prefix or credential with the chart value or parameter behind it,
prunes train's memo cache of entries whose weights were collected, and sweeps the report picture folders
Argo's GC leaves. It was a pod of its own: its ~4 s (a pod start, a controller transition) went on every
run (docs/cluster.md "Where the time goes"). prepare fetches its annotations itself, after the check, so
no input artifact is loaded before it, as before.
*/}}
{{- define "odpipe-workflows.checkInputsArgs" -}}
{{- if .Values.workflow.checkInputs.enabled }}
- --check-inputs
{{- if .Values.memoize.enabled }}
- --memo-cache
- {{ printf "%s/%s" (include "odpipe-workflows.controllerNamespace" .) (include "odpipe-workflows.memoConfigMap" .) | quote }}
{{- end }}
{{- $gc := .Values.workflow.artifactGC }}
{{- if and $gc.strategy $gc.sweepReportPictures.enabled }}
- --sweep-report-pictures-after
- {{ $gc.sweepReportPictures.minAgeSeconds | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Where the S3 credentials come from, for check-inputs' message on a refused key. */}}
{{- define "odpipe-workflows.checkInputsEnv" -}}
{{- if .Values.workflow.checkInputs.enabled }}
- name: ODPIPE_CREDENTIALS_FROM
  value: {{ printf "Secret %s (keys %s, %s)" (include "odpipe-workflows.secretName" .) .Values.credentials.accessKeyKey .Values.credentials.secretKeyKey | quote }}
{{- end }}
{{- end -}}
