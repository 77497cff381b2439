{{/* Labels on every object's metadata: the kustomize base's (app.kubernetes.io/part-of) plus Helm's own. */}}
{{- define "nodewarden.labels" -}}
app.kubernetes.io/part-of: nodewarden
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The nodewarden image (both roles); the tag defaults to the chart's appVersion. */}}
{{- define "nodewarden.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* NATS for every client: yours (nats.external.url), else the bundled StatefulSet's Service. */}}
{{- define "nodewarden.natsUrl" -}}
{{- .Values.nats.external.url | default (printf "tls://nats.%s.svc:4222" .Release.Namespace) }}
{{- end }}
