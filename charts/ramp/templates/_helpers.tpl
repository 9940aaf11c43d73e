{{- define "ramp.image" -}}
{{ .root.Values.image.registry }}/{{ .name }}:{{ .root.Values.image.tag }}
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
