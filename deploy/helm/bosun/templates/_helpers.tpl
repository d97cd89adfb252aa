{{/* The release's full name, at most 63 characters. */}}
{{- define "bosun.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The labels that select the agent's pods. */}}
{{- define "bosun.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{/* Every object's labels. */}}
{{- define "bosun.labels" -}}
{{ include "bosun.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "bosun.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bosun.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The agent's flags the chart passes from the values of the same name (src/reboot/flags.ts). Not
here: nodeName, namespace, hostRoot and metricsHost (the chart sets them), config (no file), and
notifyUrl and slackWebhookUrl (secrets: passed through the environment from a Secret).
*/}}
{{- define "bosun.flagNames" -}}
clusterName period rebootSentinel rebootSentinelCommand rebootMethod rebootCommand rebootSignal hostExec rebootTimeout
rebootDays startTime endTime timeZone monthlyRule blackoutDates
concurrency lockTtl
blockingPodSelector blockingPodScope prometheusUrl alertmanagerUrl alertFilterRegexp alertFilterMatchOnly alertFiringOnly
slackChannel slackUsername httpTimeout
drainTimeout gracePeriod deleteEmptydirData force drainPodSelector skipWaitForDeleteTimeout disableEviction ignorePreflightErrors escalate
healthTimeout healthSettle restoreTimeout retryDelay retryMaxDelay
metricsPort logLevel
{{- end -}}

{{/* The agent's flag arguments, one per value (one per item for lists); empty values pass nothing. */}}
{{- define "bosun.flagArgs" -}}
{{- $values := .Values -}}
{{- range $name := regexSplit "\\s+" (include "bosun.flagNames" .) -1 }}
{{- $v := index $values $name }}
{{- $flag := kebabcase $name }}
{{- if kindIs "slice" $v }}
{{- range $v }}
- {{ printf "--%s=%v" $flag . | quote }}
{{- end }}
{{- else if kindIs "bool" $v }}
- {{ printf "--%s=%t" $flag $v | quote }}
{{- else if and (not (kindIs "invalid" $v)) (ne (toString $v) "") }}
- {{ printf "--%s=%v" $flag $v | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The Secret holding the webhook URLs: the chart's own, or an existing one. */}}
{{- define "bosun.secretName" -}}
{{- default (printf "%s-webhooks" (include "bosun.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{/* Whether the agent may delete pods: only when the drain is told to (disableEviction, an escalate rule with action=delete). */}}
{{- define "bosun.deletesPods" -}}
{{- $delete := .Values.disableEviction -}}
{{- range .Values.escalate }}{{ if regexMatch "(^|,)\\s*action\\s*=\\s*delete\\s*(,|$)" . }}{{ $delete = true }}{{ end }}{{ end -}}
{{- if $delete }}true{{ end -}}
{{- end -}}
