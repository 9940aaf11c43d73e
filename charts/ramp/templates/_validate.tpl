{{/*
Checks that values.schema.json cannot express: ranges of durations and
relations between values. The controller's Deployment includes it, so a bad
combination fails `helm install` instead of the controller at run time.
*/}}
{{- define "ramp.validate" -}}
{{- $c := .Values.controller -}}
{{- if and (gt (int $c.replicas) 1) (not $c.leaderElection) -}}
{{- fail "controller.replicas > 1 requires controller.leaderElection=true: replicas without leader election reconcile the same objects at once" -}}
{{- end -}}
{{- $as := .Values.autoscaler -}}
{{- $w := include "ramp.seconds" $as.stableWindow | float64 -}}
{{- if or (lt $w 6.0) (gt $w 300.0) -}}
{{- fail (printf "autoscaler.stableWindow %s: must be a whole number of seconds from 6s to 5m" $as.stableWindow) -}}
{{- end -}}
{{- $g := include "ramp.seconds" $as.scaleToZeroGracePeriod | float64 -}}
{{- if gt $g 3600.0 -}}
{{- fail (printf "autoscaler.scaleToZeroGracePeriod %s: must be a duration from 0s to 1h" $as.scaleToZeroGracePeriod) -}}
{{- end -}}
{{- if and (gt (int64 $as.maxScale) 0) (gt (int64 $as.minScale) (int64 $as.maxScale)) -}}
{{- fail (printf "autoscaler.minScale %d is above autoscaler.maxScale %d (0 means unbounded)" (int64 $as.minScale) (int64 $as.maxScale)) -}}
{{- end -}}
{{- $an := .Values.analysis -}}
{{- $interval := include "ramp.seconds" $an.interval | float64 -}}
{{- if lt $interval 1.0 -}}
{{- fail (printf "analysis.interval %s: must be at least 1s" $an.interval) -}}
{{- end -}}
{{- if lt (include "ramp.seconds" $an.window | float64) $interval -}}
{{- fail (printf "analysis.window %s: must be at least analysis.interval (%s)" $an.window $an.interval) -}}
{{- end -}}
{{- $maxStep := include "ramp.seconds" $an.maxStepTime | float64 -}}
{{- if gt (include "ramp.seconds" $an.minStepTime | float64) $maxStep -}}
{{- fail (printf "analysis.minStepTime %s: must not be above analysis.maxStepTime (%s)" $an.minStepTime $an.maxStepTime) -}}
{{- end -}}
{{- if or (le $maxStep 0.0) (gt $maxStep 900.0) -}}
{{- fail (printf "analysis.maxStepTime %s: must be positive and at most 15m (the builtin telemetry keeps 15 minutes)" $an.maxStepTime) -}}
{{- end -}}
{{- $p := $an.prometheus -}}
{{- $k := $p.auth.keys -}}
{{- $anyKey := or $k.ca $k.cert $k.key $k.token $k.password -}}
{{- $https := hasPrefix "https://" $p.url -}}
{{- if and (not $p.url) (or $anyKey $p.auth.existingSecret $p.auth.username $p.insecureSkipVerify) -}}
{{- fail "analysis.prometheus.auth and insecureSkipVerify need analysis.prometheus.url" -}}
{{- end -}}
{{- if and $anyKey (not $p.auth.existingSecret) -}}
{{- fail "analysis.prometheus.auth.keys name keys of analysis.prometheus.auth.existingSecret: set it" -}}
{{- end -}}
{{- if and $p.auth.existingSecret (not $anyKey) -}}
{{- fail "analysis.prometheus.auth.existingSecret: set the keys to use (auth.keys.ca, cert and key, token, or password)" -}}
{{- end -}}
{{- if ne (not $k.cert) (not $k.key) -}}
{{- fail "analysis.prometheus.auth.keys: set both cert and key (a client certificate), or neither" -}}
{{- end -}}
{{- if and $k.token (or $k.password $p.auth.username) -}}
{{- fail "analysis.prometheus.auth: set either keys.token (a bearer token) or username with keys.password (basic auth), not both" -}}
{{- end -}}
{{- if ne (not $k.password) (not $p.auth.username) -}}
{{- fail "analysis.prometheus.auth: basic auth needs both username and keys.password" -}}
{{- end -}}
{{- if and $k.ca $p.insecureSkipVerify -}}
{{- fail "analysis.prometheus: set either auth.keys.ca or insecureSkipVerify, not both" -}}
{{- end -}}
{{- if and (not $https) (or $anyKey $p.insecureSkipVerify) -}}
{{- fail (printf "analysis.prometheus.url %s: TLS settings and credentials need an https URL (credentials must not cross the network in clear text)" $p.url) -}}
{{- end -}}
{{- end -}}
