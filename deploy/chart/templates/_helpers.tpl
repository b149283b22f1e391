{{/* Names and labels: Helm's standard ones (app.kubernetes.io/*). */}}
{{- define "ic.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ic.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ic.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "ic.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: include "ic.selector" (list . "web") */}}
{{- define "ic.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "ic.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "ic.secretName" -}}
{{- default (include "ic.fullname" .) .Values.secret.name -}}
{{- end -}}

{{- define "ic.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ic.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ic.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/* RQ's list for the queue: the key KEDA measures. RQ names a queue's list
     `rq:queue:<name>` (rq.Queue.redis_queue_namespace_prefix); the test renders this and
     compares it with django_rq.get_queue(settings.INFERENCE_QUEUE).key. */}}
{{- define "ic.queueListKey" -}}
{{- printf "rq:queue:%s" .Values.queue.name -}}
{{- end -}}

{{/* A Redis URL from host/port/database, the password by reference to an env var that
     the container defines before it (Kubernetes expands $(VAR) in env values). */}}
{{- define "ic.redisUrl" -}}
{{- $scheme := ternary "rediss" "redis" .redis.tls -}}
{{- if .redis.passwordKey -}}
{{- printf "%s://:$(%s)@%s:%v/%v" $scheme .passwordVar .redis.host .redis.port .redis.database -}}
{{- else -}}
{{- printf "%s://%s:%v/%v" $scheme .redis.host .redis.port .redis.database -}}
{{- end -}}
{{- end -}}

{{/* The application's environment: ConfigMap + Secret, then the Redis URLs (which may
     reference a password from the Secret). Same for web, worker, migration. */}}
{{- define "ic.appEnv" -}}
envFrom:
  - configMapRef:
      name: {{ include "ic.fullname" . }}
  - secretRef:
      name: {{ include "ic.secretName" . }}
env:
  {{- with .Values.redis.queue.passwordKey }}
  - name: IC_QUEUE_REDIS_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "ic.secretName" $ }}
        key: {{ . }}
  {{- end }}
  {{- with .Values.redis.cache.passwordKey }}
  - name: IC_CACHE_REDIS_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "ic.secretName" $ }}
        key: {{ . }}
  {{- end }}
  - name: REDIS_URL
    value: {{ include "ic.redisUrl" (dict "redis" .Values.redis.queue "passwordVar" "IC_QUEUE_REDIS_PASSWORD") | quote }}
  - name: CACHE_REDIS_URL
    value: {{ include "ic.redisUrl" (dict "redis" .Values.redis.cache "passwordVar" "IC_CACHE_REDIS_PASSWORD") | quote }}
{{- end -}}

{{/* Writable places on a read-only root filesystem. */}}
{{- define "ic.tmpVolume" -}}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 256Mi
{{- end -}}

{{/* Pods wait for the migration of their own code: `migrate --check` fails while any
     migration is unapplied. Bounded by migrate.waitSeconds; then the pod restarts it.
     include "ic.waitForMigrations" (dict "root" . "image" .Values.image.web): the pod's
     own image, so a node pulls nothing more for it. */}}
{{- define "ic.waitForMigrations" -}}
{{- $root := .root -}}
{{- if $root.Values.migrate.enabled }}
- name: wait-for-migrations
  image: {{ include "ic.image" (dict "image" .image "root" $root) }}
  imagePullPolicy: {{ .image.pullPolicy }}
  command:
    - sh
    - -c
    - |
      deadline=$(( $(date +%s) + {{ $root.Values.migrate.waitSeconds }} ))
      until python manage.py migrate --check >/dev/null; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "migrations not applied after {{ $root.Values.migrate.waitSeconds }}s"; exit 1; }
        echo "waiting for the migration Job"; sleep 5
      done
  {{- include "ic.appEnv" $root | nindent 2 }}
  securityContext: {{- toYaml $root.Values.containerSecurityContext | nindent 4 }}
  resources: {{- toYaml $root.Values.migrate.resources | nindent 4 }}
  volumeMounts:
    - {name: tmp, mountPath: /tmp}
{{- end }}
{{- end -}}
