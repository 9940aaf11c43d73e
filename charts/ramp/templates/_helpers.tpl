{{/* An image: <registry>/<name>:<tag or appVersion>[@<digest>]. */}}
{{- define "ramp.image" -}}
{{- $i := .root.Values.image -}}
{{ $i.registry }}/{{ .name }}:{{ $i.tag | default .root.Chart.AppVersion }}
{{- with (get ($i.digests | default dict) .name) }}@{{ . }}{{ end }}
{{- end -}}

{{- define "ramp.labels" -}}
app.kubernetes.io/name: ramp
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector of the controller's pods; a Deployment's selector is immutable, so keep it stable. */}}
{{- define "ramp.controller.selectorLabels" -}}
app.kubernetes.io/name: ramp
app.kubernetes.io/component: controller
{{- end -}}

{{/* Selector of the gateway's pods. */}}
{{- define "ramp.gateway.selectorLabels" -}}
app.kubernetes.io/name: ramp
app.kubernetes.io/component: gateway
{{- end -}}

{{/* Labels of the Services that serve /metrics, which the ServiceMonitors select. */}}
{{- define "ramp.metricsLabel" -}}
ramp.dev/metrics: "true"
{{- end -}}

{{/* The Slack mode: off, http or socket (YAML's bare off is false, which means off). */}}
{{- define "ramp.slackMode" -}}
{{ .Values.slack.mode | default "off" }}
{{- end -}}

{{/*
A Go duration (1h30m, 1.5s, 500ms) in seconds, as a string: include it and
pipe to float64. values.schema.json has checked the form.
*/}}
{{- define "ramp.seconds" -}}
{{- $units := dict "ns" 1e-9 "us" 1e-6 "µs" 1e-6 "ms" 1e-3 "s" 1.0 "m" 60.0 "h" 3600.0 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)" (toString .) -1 -}}
{{- $n := regexFind "^[0-9]+(\\.[0-9]+)?" . -}}
{{- $total = addf $total (mulf (float64 $n) (get $units (trimPrefix $n .))) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
"true" when the controller mounts the Prometheus auth Secret: a URL and an
existingSecret.
*/}}
{{- define "ramp.prometheusAuth" -}}
{{- $p := .Values.analysis.prometheus -}}
{{- if and $p.url $p.auth.existingSecret -}}true{{- end -}}
{{- end -}}
