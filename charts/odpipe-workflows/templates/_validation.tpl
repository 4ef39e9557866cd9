{{/*
Checks at install and upgrade that fail with a message saying what to do.
*/}}

{{/*
One release per namespace. The WorkflowTemplate names are fixed (users `argo submit --from
workflowtemplate/odpipe-pipeline`, and odpipe-pipeline refers to the steps by name), and so is the name of
the ConfigMap where Argo looks for a namespace's default artifact repository. On install and upgrade
(lookup answers nothing in `helm template`), fail with an explanation when another release, or no
release, already owns one of them. Every lookup of a kind that may not exist yet is guarded by
.Capabilities.APIVersions.Has.
*/}}
{{- define "odpipe-workflows.assertOneReleasePerNamespace" -}}
{{- $ns := .Release.Namespace -}}
{{- $owned := list -}}
{{- /* On a cluster without Argo's CRDs yet (the umbrella installs them in this same release), lookup of
a WorkflowTemplate fails ("could not find the requested resource"): and no WorkflowTemplate can exist. */ -}}
{{- if .Capabilities.APIVersions.Has "argoproj.io/v1alpha1/WorkflowTemplate" -}}
{{- $owned = append $owned (list "argoproj.io/v1alpha1" "WorkflowTemplate" "odpipe-pipeline") -}}
{{- end -}}
{{- if .Values.artifactRepository.create -}}
{{- $owned = append $owned (list "v1" "ConfigMap" .Values.artifactRepository.configMapName) -}}
{{- end -}}
{{- range $owned -}}
{{- $existing := lookup (index . 0) (index . 1) $ns (index . 2) -}}
{{- if $existing -}}
{{- $owner := index ($existing.metadata.annotations | default dict) "meta.helm.sh/release-name" | default "" -}}
{{- if ne $owner $.Release.Name -}}
{{- $by := ternary (printf "Helm release %q" $owner) "something outside Helm" (ne $owner "") -}}
{{- if eq (index . 1) "ConfigMap" -}}
{{- fail (printf "ConfigMap %s/%s already exists, created by %s. Argo reads a namespace's default artifact repository from this fixed name, so odpipe-workflows installs once per namespace: install into another namespace, or set artifactRepository.create=false to use the existing repository." $ns (index . 2) $by) -}}
{{- else -}}
{{- fail (printf "WorkflowTemplate %s/%s already exists, created by %s. The WorkflowTemplate names (odpipe-pipeline, odpipe-prepare, odpipe-train, odpipe-export-deploy) are fixed, since users submit them by name, so odpipe installs once per namespace: upgrade that release, or install into another namespace." $ns (index . 2) $by) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
A memoized train needs check-inputs (run by prepare): Argo hands a cache hit's outputs on without looking at them, and
check-inputs is what drops an entry whose weights artifactGC collected (else that run fails loading them).
*/}}
{{- define "odpipe-workflows.assertMemoizeChecked" -}}
{{- if and .Values.memoize.enabled (not .Values.workflow.checkInputs.enabled) -}}
{{- fail "memoize.enabled needs workflow.checkInputs.enabled: check-inputs drops train cache entries whose weights were collected, without it such a run would fail loading them. Enable check-inputs, or set memoize.enabled=false." -}}
{{- end -}}
{{- end -}}

{{/*
Argo counts retryStrategy.backoff.maxDuration from a step's first attempt, run time included, and gives a
retry's pod what is left of it as its deadline (v4.0.5 operator.go): shorter than train's deadline, a train
pod lost after that long is never retried, though it would resume from its checkpoint.
*/}}
{{- define "odpipe-workflows.assertRetryOutlastsTrain" -}}
{{- with .Values.workflow.retryStrategy.backoff.maxDuration -}}
{{- $unit := dict "s" 1 "m" 60 "h" 3600 -}}
{{- $seconds := mul (trimSuffix (substr (sub (len .) 1 | int) (len .) .) .) (get $unit (substr (sub (len .) 1 | int) (len .) .)) -}}
{{- if lt (int $seconds) (int $.Values.workflow.trainDeadlineSeconds) -}}
{{- fail (printf "workflow.retryStrategy.backoff.maxDuration %s is shorter than workflow.trainDeadlineSeconds (%v s): Argo counts maxDuration from a step's first attempt, run time included, so a train pod lost after %s would never be retried. Leave maxDuration unset (cap bounds each wait), or set it above the train deadline." . $.Values.workflow.trainDeadlineSeconds .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
