{{/*
The image of each task, Bitnami style (registry, repository, tag or digest, variant).
*/}}

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
