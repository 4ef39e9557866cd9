{{/*
The pipeline's parameters: one table, rendered as WorkflowTemplate arguments, a step's inputs
and a DAG task's arguments.
*/}}

{{/*
The WorkflowTemplate parameters, each written once: its default (from pipeline.* in values.yaml; the
image inputs default to empty, annotations-key has none), its description and enum, and the steps that
take it. odpipe-pipeline's arguments, each step template's arguments and inputs, and the DAG's wiring
are all rendered from this table.
*/}}
{{- define "odpipe-workflows.parameterTable" -}}
{{- $p := .Values.pipeline -}}
- name: annotations-key
  steps: [prepare]
  description: key of the COCO instances JSON in the datasets bucket
- name: images-prefix
  steps: [prepare]
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
