{{/* Names and shared pieces of the serving templates (odpipe serve and Triton). */}}

{{- define "odpipe-workflows.servingName" -}}
{{- printf "%s-serve" (include "odpipe-workflows.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "odpipe-workflows.tritonName" -}}
{{- printf "%s-triton" (include "odpipe-workflows.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The image of a serving container: (dict "image" .Values.serving.image "context" .). */}}
{{- define "odpipe-workflows.servingImage" -}}
{{- include "odpipe-workflows.image" (dict "image" .image "context" .context) -}}
{{- end -}}

{{/* Triton reads S3 as s3://[http://]host:port/bucket (HTTPS unless told http://). */}}
{{- define "odpipe-workflows.tritonRepository" -}}
{{- printf "s3://%s%s/%s" (ternary "http://" "" .Values.s3.insecure) (include "odpipe-workflows.s3Endpoint" .) .Values.s3.buckets.models -}}
{{- end -}}

{{/* checkov skips of the serving Deployments, each with its reason. */}}
{{- define "odpipe-workflows.servingCheckovSkips" -}}
checkov.io/skip1: CKV_K8S_43=image tags are pinned versions; set serving.image.digest (serving.triton.image.digest) to pin by digest
checkov.io/skip2: CKV_K8S_15=IfNotPresent with immutable version tags; image.pullPolicy sets Always where wanted
checkov.io/skip3: CKV_K8S_35=the S3 client reads credentials from environment variables, filled by secretKeyRef only
{{- end -}}
