{{/* Names and labels (the conventions of `helm create`). */}}
{{- define "authbridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "authbridge.fullname" -}}
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

{{- define "authbridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "authbridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "authbridge.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "authbridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: identity
{{- end }}

{{- define "authbridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "authbridge.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "authbridge.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The configuration file, /etc/authbridge/authbridge.yaml. `config` is written as authbridge's
own sections; the foreign blocks go in as written, for the loader to translate (one place:
src/authbridge/config/): `astronomer` (with the chart's `secret` list appended to
`astronomer.houston.secret`, so the loader reads each entry from its mounted file), `oidc`
(Pachyderm) and `openmetadata`.
*/}}
{{- define "authbridge.configFile" -}}
{{- $file := deepCopy (.Values.config | default dict) -}}
{{- $astronomer := deepCopy (.Values.astronomer | default dict) }}
{{- if .Values.secret }}
{{- $houston := get $astronomer "houston" | default dict }}
{{- $_ := set $houston "secret" (concat (get $houston "secret" | default list) .Values.secret) }}
{{- $_ := set $astronomer "houston" $houston }}
{{- end }}
{{- if $astronomer }}{{ $_ := set $file "astronomer" $astronomer }}{{ end }}
{{- if .Values.oidc }}{{ $_ := set $file "oidc" .Values.oidc }}{{ end }}
{{- if .Values.openmetadata }}{{ $_ := set $file "openmetadata" .Values.openmetadata }}{{ end }}
{{- if $file }}
{{- toYaml $file }}
{{- else -}}
{}
{{- end }}
{{- end }}

{{/*
Every Secret the configuration names, as a JSON list of names, sorted: each is mounted as a
volume at <secretsDir>/<name>, one file per key, where the loader reads
<secretName>/<secretKey> (Houston's secret list), <upstreamIDPsSecretName>/upstream-idps
(Pachyderm), <secretRef>/<secretKey> (OpenMetadata) and the bootstrap admin's password.
*/}}
{{- define "authbridge.secretNames" -}}
{{- $names := dict }}
{{- range (concat .Values.secret (dig "houston" "secret" list (.Values.astronomer | default dict))) }}
{{- $_ := set $names .secretName true }}
{{- end }}
{{- with (get (.Values.oidc | default dict) "upstreamIDPsSecretName") }}
{{- $_ := set $names . true }}
{{- end }}
{{- range $key, $value := (dig "config" "authentication" "oidcConfiguration" dict (.Values.openmetadata | default dict)) }}
{{- if and (kindIs "map" $value) (hasKey $value "secretRef") }}
{{- $_ := set $names $value.secretRef true }}
{{- end }}
{{- end }}
{{- with .Values.bootstrapAdmin.existingSecret }}
{{- $_ := set $names . true }}
{{- end }}
{{- keys $names | sortAlpha | toJson }}
{{- end }}

{{/*
Fails the render when several replicas would each keep their own embedded SQLite file (each
its own users, keys and sessions): more than one replica needs database.url (PostgreSQL),
given in `config`, `env` or the `secret` list as DATABASE__URL.
*/}}
{{- define "authbridge.checkDatabase" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}
{{- $given := dig "database" "url" "" (.Values.config | default dict) }}
{{- range .Values.env }}{{ if has .name (list "DATABASE__URL" "DATABASE__URL_FILE") }}{{ $given = "env" }}{{ end }}{{ end }}
{{- range (concat .Values.secret (dig "houston" "secret" list (.Values.astronomer | default dict))) }}{{ if eq .envName "DATABASE__URL" }}{{ $given = "secret" }}{{ end }}{{ end }}
{{- if hasPrefix "sqlite" $given }}{{ $given = "" }}{{ end }}
{{- if not $given }}
{{- fail "authbridge: more than one replica (replicaCount > 1 or autoscaling) needs a shared PostgreSQL database: set config.database.url, or DATABASE__URL in `env` or the `secret` list (envName DATABASE__URL); the embedded SQLite file is for one replica" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The container's environment: the loader's paths, the bootstrap admin, then `env`. */}}
{{- define "authbridge.env" -}}
- name: AUTHBRIDGE_CONFIG
  value: /etc/authbridge/authbridge.yaml
- name: AUTHBRIDGE_SECRETS_DIR
  value: {{ .Values.secretsDir | quote }}
{{- if .Values.bootstrapAdmin.email }}
- name: AUTHBRIDGE_BOOTSTRAP_ADMIN_EMAIL
  value: {{ .Values.bootstrapAdmin.email | quote }}
- name: AUTHBRIDGE_BOOTSTRAP_ADMIN_PASSWORD_FILE
  value: {{ printf "%s/%s/%s" .Values.secretsDir (required "bootstrapAdmin.existingSecret: name the Secret holding the admin's password (key bootstrapAdmin.passwordKey)" .Values.bootstrapAdmin.existingSecret) .Values.bootstrapAdmin.passwordKey | quote }}
{{- end }}
{{- range .Values.env }}
- name: {{ .name }}
{{- if hasKey . "valueFrom" }}
  valueFrom:
    {{- toYaml .valueFrom | nindent 4 }}
{{- else if kindIs "invalid" .value }}
  value: ""
{{- else }}
  {{- /* Kubernetes takes strings only; Houston's lists often hold `value: true` or 8080. */}}
  value: {{ .value | toString | quote }}
{{- end }}
{{- end }}
{{- end }}

{{- define "authbridge.volumeMounts" -}}
- name: config
  mountPath: /etc/authbridge
  readOnly: true
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
{{- range $index, $name := (include "authbridge.secretNames" . | fromJsonArray) }}
- name: {{ printf "secret-%d" $index }}
  mountPath: {{ printf "%s/%s" $.Values.secretsDir $name | quote }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Volumes; `configMap` names the ConfigMap holding the configuration file. */}}
{{- define "authbridge.volumes" -}}
{{- $root := .root -}}
- name: config
  configMap:
    name: {{ .configMap }}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: {{ $root.Values.tmpSizeLimit }}
- name: data
  emptyDir:
    sizeLimit: {{ $root.Values.dataSizeLimit }}
{{- range $index, $name := (include "authbridge.secretNames" $root | fromJsonArray) }}
- name: {{ printf "secret-%d" $index }}
  secret:
    secretName: {{ $name | quote }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{/* The authbridge container running `authbridge <args>` (server and migration alike). */}}
{{- define "authbridge.container" -}}
{{- $root := .root -}}
name: {{ .name }}
image: {{ include "authbridge.image" $root | quote }}
imagePullPolicy: {{ $root.Values.image.pullPolicy }}
args: {{ toJson .args }}
env:
{{- include "authbridge.env" $root | nindent 2 }}
volumeMounts:
{{- include "authbridge.volumeMounts" $root | nindent 2 }}
securityContext:
{{- toYaml $root.Values.securityContext | nindent 2 }}
resources:
{{- toYaml $root.Values.resources | nindent 2 }}
{{- end }}
