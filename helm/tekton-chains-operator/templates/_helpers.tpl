{{/* The operator's name, used for every object of the chart. */}}
{{- define "tco.name" -}}tekton-chains-operator{{- end }}

{{- define "tco.labels" -}}
app.kubernetes.io/name: {{ include "tco.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "tco.selector" -}}
app.kubernetes.io/name: {{ include "tco.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* repository:tag, the tag defaulting to appVersion. */}}
{{- define "tco.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "tco.targetNamespace" -}}
{{- if .Values.defaultTargetNamespace -}}{{ .Values.defaultTargetNamespace }}
{{- else if .Values.openshift.enabled -}}openshift-pipelines
{{- else -}}tekton-pipelines
{{- end -}}
{{- end }}
