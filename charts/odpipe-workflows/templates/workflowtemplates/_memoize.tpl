{{/*
train's memoize (memoize.*). The key hashes what makes a training run the same: the dataset id prepare
hands on, every parameter the train step takes (from the parameter table, so a new one joins the key) and
the train image's reference. Argo takes only [a-zA-Z0-9-] in a key, hence the hash, computed by Argo's
expression language once the inputs are known. Without a dataset id (odpipe-train submitted alone) the
workflow's uid stands in for it: no reuse.
*/}}
{{- define "odpipe-workflows.trainMemoize" -}}
{{- $fields := list "(inputs.parameters['dataset-id'] != '' ? inputs.parameters['dataset-id'] : 'run-' + workflow.uid)" -}}
{{- range include "odpipe-workflows.parameterTable" . | fromYamlArray -}}
{{- if has "train" .steps -}}
{{- $fields = append $fields (printf "inputs.parameters['%s']" .name) -}}
{{- end -}}
{{- end -}}
{{- $fields = append $fields (printf "'%s'" (include "odpipe-workflows.image" (dict "image" .Values.tasks.train "context" .))) -}}
memoize:
  key: {{ printf "train-{{=sprig.sha256sum(%s)}}" (join " + '|' + " $fields) | quote }}
  maxAge: {{ .Values.memoize.maxAge | quote }}
  cache:
    configMap:
      name: {{ include "odpipe-workflows.memoConfigMap" . }}
{{- end -}}
