{{/*
The check-inputs step of odpipe-pipeline (workflow.checkInputs): a small pod of the prepare image that
names a wrong bucket, annotations key, images prefix or credential, with the chart value or parameter
behind it, before any step's input artifact is loaded by Argo's executor (whose message does not name
the bucket). A template of odpipe-pipeline itself, so its name stays among the fixed four.
*/}}
{{- define "odpipe-workflows.checkInputsTemplate" -}}
{{- $check := .Values.workflow.checkInputs -}}
{{- $task := .Values.tasks.prepare -}}
- name: check-inputs
  inputs:
    parameters:
      {{- include "odpipe-workflows.parameters" (dict "context" . "step" "check-inputs" "inputs" true) | nindent 6 }}
  activeDeadlineSeconds: {{ $check.deadlineSeconds }}
  {{- include "odpipe-workflows.podSettings" (dict "context" . "task" $task) | nindent 2 }}
  container:
    image: {{ include "odpipe-workflows.image" (dict "image" $task "context" .) }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    # a crash (no message of its own) shows its last log lines in `argo get`
    terminationMessagePolicy: FallbackToLogsOnError
    command: ["odpipe"]
    args:
      - check-inputs
      - --annotations-key
      - "{{`{{inputs.parameters.annotations-key}}`}}"
      - --images-prefix
      - "{{`{{inputs.parameters.images-prefix}}`}}"
      {{- if .Values.memoize.enabled }}
      - --memo-cache
      - {{ printf "%s/%s" (include "odpipe-workflows.controllerNamespace" .) (include "odpipe-workflows.memoConfigMap" .) | quote }}
      {{- end }}
      {{- $gc := .Values.workflow.artifactGC }}
      {{- if and $gc.strategy $gc.sweepReportPictures.enabled }}
      - --sweep-report-pictures-after
      - {{ $gc.sweepReportPictures.minAgeSeconds | quote }}
      {{- end }}
    env:
      {{- include "odpipe-workflows.taskEnv" (dict "context" . "task" $task) | nindent 6 }}
      - name: ODPIPE_CREDENTIALS_FROM
        value: {{ printf "Secret %s (keys %s, %s)" (include "odpipe-workflows.secretName" .) .Values.credentials.accessKeyKey .Values.credentials.secretKeyKey | quote }}
    resources:
      {{- toYaml $check.resources | nindent 6 }}
    securityContext:
      {{- toYaml .Values.workflow.containerSecurityContext | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
{{- end -}}
