{{/*
S3: the endpoint, the credentials from the Secret, and the environment every container that
reads S3 gets.
*/}}

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

{{/* S3 for any container: the endpoint, the region and the Secret's credentials (never a value in the
pod spec). The task containers add their own variables after these (taskEnv). */}}
{{- define "odpipe-workflows.s3Env" -}}
- name: AWS_ENDPOINT_URL
  value: {{ include "odpipe-workflows.s3Url" . | quote }}
- name: AWS_DEFAULT_REGION
  value: {{ .Values.s3.region | quote }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "odpipe-workflows.secretName" . }}
      key: {{ .Values.credentials.accessKeyKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "odpipe-workflows.secretName" . }}
      key: {{ .Values.credentials.secretKeyKey }}
{{- end -}}

{{/*
The environment of every task container: (dict "context" . "task" .Values.tasks.x). S3 from the Secret,
the buckets, the workflow's identity and the image the step runs (recorded in the model card).
*/}}
{{- define "odpipe-workflows.taskEnv" -}}
{{- $ctx := .context -}}
{{ include "odpipe-workflows.s3Env" $ctx }}
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
