{{/*
train, memoized (memoize.*): odpipe-pipeline's train task runs `train-memoized`, a one-task DAG around
the `train` container template. The memoize sits on the wrapper, not on the container template, because
the container template has a retryStrategy: Argo v4.0.5 links nothing after a memoized Retry node (it has
no children, so getOutboundNodes gives none), and the DAG waits for export-deploy for ever; a memoized
DAG node is its own outbound node. A DAG, not steps: v4.0.5 saves a memoized Steps node's entry before
its outputs (a shadowed variable in steps.go), so every hit had none. Both seen on the real cluster. The key hashes what
makes a training run the same: the dataset id prepare hands on, every parameter the train step takes
(from the parameter table, so a new one joins the key) and the train image's reference. Argo takes only
[a-zA-Z0-9-] in a key, hence the hash, computed by Argo's expression language once the inputs are known.
*/}}
{{- define "odpipe-workflows.trainMemoizedTemplate" -}}
{{- $params := list -}}
{{- range include "odpipe-workflows.parameterTable" . | fromYamlArray -}}
{{- if has "train" .steps -}}
{{- $params = append $params .name -}}
{{- end -}}
{{- end -}}
{{- $fields := list "inputs.parameters['dataset-id']" -}}
{{- range $params -}}
{{- $fields = append $fields (printf "inputs.parameters['%s']" .) -}}
{{- end -}}
{{- $fields = append $fields (printf "'%s'" (include "odpipe-workflows.image" (dict "image" .Values.tasks.train "context" .))) -}}
- name: train-memoized
  inputs:
    parameters:
      {{- include "odpipe-workflows.parameters" (dict "context" . "step" "train" "inputs" true) | nindent 6 }}
      - name: dataset-id
        description: the dataset's id (prepare's output), part of the memoize key
    artifacts:
      - name: dataset
  memoize:
    key: {{ printf "train-{{=sprig.sha256sum(%s)}}" (join " + '|' + " $fields) | quote }}
    maxAge: {{ .Values.memoize.maxAge | quote }}
    cache:
      configMap:
        name: {{ include "odpipe-workflows.memoConfigMap" . }}
  dag:
    tasks:
      - name: train
        template: train
        arguments:
          parameters:
            {{- range $params }}
            - name: {{ . }}
              value: "{{ printf "{{inputs.parameters.%s}}" . }}"
            {{- end }}
          artifacts:
            - name: dataset
              from: "{{`{{inputs.artifacts.dataset}}`}}"
  outputs:
    parameters:
      - name: map50-95
        valueFrom:
          parameter: "{{`{{tasks.train.outputs.parameters.map50-95}}`}}"
    artifacts:
      {{- range list "weights" "metrics" "run" }}
      - name: {{ . }}
        from: "{{ printf "{{tasks.train.outputs.artifacts.%s}}" . }}"
      {{- end }}
      {{- range list "evaluation-report" "evaluation-report-files" }}
      - name: {{ . }}
        from: "{{ printf "{{tasks.train.outputs.artifacts.%s}}" . }}"
        optional: true
      {{- end }}
{{- end -}}
