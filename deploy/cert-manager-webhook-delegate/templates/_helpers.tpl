{{/*
The chart name, overridable with nameOverride.
*/}}
{{- define "cert-manager-webhook-delegate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every resource name. Truncated to 52 characters so that the longest suffix the chart appends
("-selfsign") keeps names within 63 characters.
*/}}
{{- define "cert-manager-webhook-delegate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "cert-manager-webhook-delegate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The labels the Deployment selects its pods by. Never change them in an upgrade: a Deployment's selector is
immutable.
*/}}
{{- define "cert-manager-webhook-delegate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cert-manager-webhook-delegate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end -}}

{{/*
The labels on every resource.
*/}}
{{- define "cert-manager-webhook-delegate.labels" -}}
{{ include "cert-manager-webhook-delegate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: cert-manager
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "cert-manager-webhook-delegate.chart" . }}
{{- end -}}

{{/*
groupName, validated: every template that needs it includes this, so a missing or malformed value fails the render
with one clear message before anything reaches the cluster.
*/}}
{{- define "cert-manager-webhook-delegate.groupName" -}}
{{- $g := required "groupName is required: set it to the API group your issuers name as webhook.groupName, e.g. --set groupName=acme.example.com" .Values.groupName -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$" $g) -}}
{{- fail (printf "groupName %q is not a valid API group: use a lower-case DNS name with at least one dot that you control, e.g. acme.example.com" $g) -}}
{{- end -}}
{{- if gt (len $g) 253 -}}
{{- fail (printf "groupName %q is longer than 253 characters" $g) -}}
{{- end -}}
{{- $g -}}
{{- end -}}

{{/*
The ServiceAccount the webhook runs as.
*/}}
{{- define "cert-manager-webhook-delegate.serviceAccountName" -}}
{{- include "cert-manager-webhook-delegate.fullname" . -}}
{{- end -}}

{{/*
The Service name, which the serving certificate's DNS names and the APIService use.
*/}}
{{- define "cert-manager-webhook-delegate.serviceName" -}}
{{- include "cert-manager-webhook-delegate.fullname" . -}}
{{- end -}}

{{/*
The Secret cert-manager writes the serving certificate to.
*/}}
{{- define "cert-manager-webhook-delegate.servingSecret" -}}
{{- include "cert-manager-webhook-delegate.fullname" . }}-tls
{{- end -}}

{{/*
The namespaces where the webhook may read Secrets.
*/}}
{{- define "cert-manager-webhook-delegate.secretNamespaces" -}}
{{- if .Values.secretNamespaces -}}
{{- toJson (uniq .Values.secretNamespaces) -}}
{{- else -}}
{{- toJson (list .Values.certManager.namespace) -}}
{{- end -}}
{{- end -}}

{{/*
The image reference: [registry/]repository[:tag][@digest], the tag defaulting to the chart's appVersion.
*/}}
{{- define "cert-manager-webhook-delegate.image" -}}
{{- $repository := .Values.image.repository -}}
{{- with .Values.image.registry -}}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository -}}
{{- end -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" $repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}
{{- end -}}
