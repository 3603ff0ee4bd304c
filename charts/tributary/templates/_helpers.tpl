{{/*
The chart name, overridable with nameOverride.
*/}}
{{- define "tributary.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name used as the prefix of every resource: fullnameOverride, else `<release>-<name>`, or the release name
alone when it already contains the chart name. Truncated to 63 characters (DNS label).
*/}}
{{- define "tributary.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
`<chart>-<version>` for the helm.sh/chart label.
*/}}
{{- define "tributary.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource.
*/}}
{{- define "tributary.labels" -}}
helm.sh/chart: {{ include "tributary.chart" . }}
{{ include "tributary.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tributary
{{- end }}

{{/*
Labels that select the operator pods; never change them after the first release (Deployment selectors are
immutable).
*/}}
{{- define "tributary.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tributary.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the operator runs as.
*/}}
{{- define "tributary.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tributary.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator image: repository@digest when a digest is given, else repository:tag (tag defaults to appVersion).
*/}}
{{- define "tributary.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The operator's default connection as `namespace/name`, or empty. Fails on contradictory values.
*/}}
{{- define "tributary.defaultConnection" -}}
{{- $dc := .Values.defaultConnection }}
{{- if and $dc.create $dc.ref }}
{{- fail "defaultConnection: set either ref (an existing KafkaConnection) or create: true, not both" }}
{{- end }}
{{- if $dc.create }}
{{- if not $dc.bootstrapServers }}
{{- fail "defaultConnection.create needs defaultConnection.bootstrapServers" }}
{{- end }}
{{- printf "%s/default" .Release.Namespace }}
{{- else if $dc.ref }}
{{- $dc.ref }}
{{- end }}
{{- end }}
