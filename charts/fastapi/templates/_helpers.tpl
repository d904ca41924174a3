{{/* Names: "<release>" when the release name contains the chart's, else "<release>-<chart>". */}}
{{- define "fastapi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fastapi.fullname" -}}
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

{{- define "fastapi.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "fastapi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: alerts-lib
environment: {{ include "fastapi.environment" . }}
{{- end }}

{{/* Selector labels of one component ("api" or "watch"): (list $ "api"). */}}
{{- define "fastapi.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "fastapi.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "fastapi.environment" -}}
{{- required "environment is required (dev, prod, ...): use -f values/<environment>.yaml" .Values.environment }}
{{- end }}

{{- define "fastapi.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "fastapi.serviceUrl" -}}
http://{{ include "fastapi.fullname" . }}.{{ .Release.Namespace }}.svc:{{ .Values.service.port }}
{{- end }}

{{- define "fastapi.registryClaim" -}}
{{- .Values.registry.existingClaim | default (printf "%s-model-registry" (include "fastapi.fullname" .)) }}
{{- end }}

{{- define "fastapi.spoolClaim" -}}
{{- .Values.alerts.spool.existingClaim | default (printf "%s-alerts-spool" (include "fastapi.fullname" .)) }}
{{- end }}

{{- define "fastapi.alertsConfigName" -}}
{{- printf "%s-alerts-config" (include "fastapi.fullname" .) }}
{{- end }}

{{/*
One envFrom secretRef, refusing a Secret of another environment: (list $ "slack-webhook-dev-secret").
A prod Secret named in a dev release (or the reverse) fails the render instead of alerting the wrong channel.
*/}}
{{- define "fastapi.secretRef" -}}
{{- $root := index . 0 }}
{{- $name := index . 1 }}
{{- $env := include "fastapi.environment" $root }}
{{- if not (contains (printf "-%s-" $env) (printf "-%s-" $name)) }}
{{- fail (printf "Secret %q is not a Secret of environment %q: its name must contain \"-%s-\"" $name $env $env) }}
{{- end -}}
- secretRef:
    name: {{ $name }}
{{- end }}

{{/* Settings of alerts_lib shared by the service and the watch. */}}
{{- define "fastapi.alertsEnv" -}}
- name: ALERTS_ENV
  value: {{ include "fastapi.environment" . | quote }}
- name: ALERTS_SHUTDOWN_TIMEOUT
  value: {{ .Values.alerts.shutdownTimeout | quote }}
{{- if .Values.alerts.spool.enabled }}
- name: ALERTS_SPOOL_DIR
  value: {{ .Values.alerts.spool.mountPath | quote }}
{{- end }}
{{- if .Values.alerts.destinations }}
- name: ALERTS_CONFIG
  value: /etc/alerts_lib/alerts.toml
{{- end }}
{{- end }}

{{/* Volumes both pods mount: /tmp (the root filesystem is read-only), the spool, ALERTS_CONFIG. */}}
{{- define "fastapi.alertsVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.alerts.spool.enabled }}
- name: alerts-spool
  persistentVolumeClaim:
    claimName: {{ include "fastapi.spoolClaim" . }}
{{- end }}
{{- if .Values.alerts.destinations }}
- name: alerts-config
  configMap:
    name: {{ include "fastapi.alertsConfigName" . }}
{{- end }}
{{- end }}

{{- define "fastapi.alertsVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.alerts.spool.enabled }}
- name: alerts-spool
  mountPath: {{ .Values.alerts.spool.mountPath }}
{{- end }}
{{- if .Values.alerts.destinations }}
- name: alerts-config
  mountPath: /etc/alerts_lib
  readOnly: true
{{- end }}
{{- end }}

{{/* Pod-level scheduling and security shared by both Deployments. */}}
{{- define "fastapi.podCommon" -}}
serviceAccountName: {{ include "fastapi.fullname" . }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The grace period must outlast what happens after SIGTERM, or the kubelet kills the alert flush. */}}
{{- define "fastapi.checkGrace" -}}
{{- $root := index . 0 }}
{{- $grace := index . 1 | int }}
{{- $before := index . 2 | int }}
{{- $flush := $root.Values.alerts.shutdownTimeout | int }}
{{- if le $grace (add $before $flush) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be above the preStop sleep (%d) plus alerts.shutdownTimeout (%d)" $grace $before $flush) }}
{{- end }}
{{- $grace }}
{{- end }}
