{{- /*
  Naming and labelling helpers. Every object of this chart gets its name from one of these,
  so a second release in another namespace never collides on cluster-wide objects.
*/}}

{{- /* The release's name prefix: the release name, or <release>-coursehub. At most 50
       characters so that suffixes such as "-service-db" stay within 63. */}}
{{- define "coursehub.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end }}

{{- define "coursehub.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- /* The coursehub service: Deployment, Service, ServiceAccount, PVC. */}}
{{- define "coursehub.service.fullname" -}}
{{- include "coursehub.fullname" . }}-service
{{- end }}

{{- /* Pods of the coursehub service carry this label; network policies select on it. */}}
{{- define "coursehub.service.selectorLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
coursehub.io/component: service
{{- end }}

{{- /* The claim of the service's file store: the chart's, or service.storage.existingClaim. */}}
{{- define "coursehub.service.storeClaimName" -}}
{{- .Values.service.storage.existingClaim | default (printf "%s-store" (include "coursehub.service.fullname" .)) }}
{{- end }}

{{- /* The ServiceAccount that creates grading pods (the service's). */}}
{{- define "coursehub.grading.serviceAccountName" -}}
{{- .Values.grading.serviceAccountName | default (include "coursehub.service.fullname" .) }}
{{- end }}

{{- define "coursehub.grading.fullname" -}}
{{- include "coursehub.fullname" . }}-grading
{{- end }}

{{- /* The grading pods' admission policy and binding are cluster-wide: the namespace in
       the name keeps two releases apart. */}}
{{- define "coursehub.grading.admissionPolicyName" -}}
{{- printf "%s-%s-grading-pods" .Release.Namespace (include "coursehub.fullname" .) | trunc 253 | trimSuffix "-" }}
{{- end }}

{{- /* The hub's node reader is cluster-wide: the namespace in its name keeps two releases
       of the same name (in different namespaces) apart. */}}
{{- define "coursehub.hubNodeReader.fullname" -}}
{{- printf "%s-%s-hub-node-reader" .Release.Namespace (include "coursehub.fullname" .) | trunc 253 | trimSuffix "-" }}
{{- end }}

{{- /* PriorityClasses are cluster-wide: their names come from values and are the names
       the hub gives user pods, so they are not prefixed. */}}
{{- define "coursehub.priorityClass.staff" -}}
{{- .Values.priorityClasses.staff.name }}
{{- end }}
{{- define "coursehub.priorityClass.student" -}}
{{- .Values.priorityClasses.student.name }}
{{- end }}

{{- /*
  The catalog as the chart carries it: every file under files/courses/, as
  {"<course>/<file>": content}. `make helm-catalog` keeps that folder equal to courses/.
*/}}
{{- define "coursehub.catalog.files" -}}
{{- $files := dict }}
{{- range $path, $content := .Files.Glob "files/courses/**" }}
{{- $_ := set $files (trimPrefix "files/courses/" $path) (toString $content) }}
{{- end }}
{{- toJson $files }}
{{- end }}

{{- /* The ConfigMap key of a catalog file: "/" becomes "__" ("ai-101__course.yaml"). The hub's
       unpack-catalog init container turns keys back into folders. */}}
{{- define "coursehub.catalog.key" -}}
{{- if or (contains "__" .) (not (regexMatch "^[-._a-zA-Z0-9/]+$" .)) }}
{{- fail (printf "helm/coursehub/files/courses/%s: catalog file names may use only letters, digits, '-', '.', '_' (not '__')" .) }}
{{- end }}
{{- replace "/" "__" . }}
{{- end }}

{{- /*
  sha256 over every catalog file's path and sha256, in path order: the value that
  jupyterhub.hub.annotations."checksum/catalog" must hold (scripts/sync_helm_catalog.py
  computes the same).
*/}}
{{- define "coursehub.catalog.checksum" -}}
{{- $lines := "" }}
{{- range $path, $_ := .Files.Glob "files/courses/**" }}
{{- $lines = printf "%s%s %s\n" $lines $path ($.Files.Get $path | sha256sum) }}
{{- end }}
{{- $lines | sha256sum }}
{{- end }}

{{- /* The courses of the catalog, parsed: [{"id":…, "shared_data": […]}, …]. */}}
{{- define "coursehub.catalog.courses" -}}
{{- $courses := list }}
{{- range $path, $content := .Files.Glob "files/courses/*/course.yaml" }}
{{- $course := fromYaml (toString $content) }}
{{- if hasKey $course "Error" }}
{{- fail (printf "helm/coursehub/%s: not valid YAML: %s (check it with `coursehub course validate`)" $path $course.Error) }}
{{- end }}
{{- $courses = append $courses $course }}
{{- end }}
{{- toJson $courses }}
{{- end }}

{{- /* Containers of this chart: no privilege escalation, no capabilities, read-only root. */}}
{{- define "coursehub.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end }}

{{- /* Prometheus' annotation-based discovery of the service's metrics (service.metrics). */}}
{{- define "coursehub.service.metricsAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/path: {{ printf "/services/%s/api/metrics" .Values.service.hub.serviceName | quote }}
prometheus.io/port: {{ .Values.service.port | quote }}
{{- end }}

{{- /* The courses' formgraders, one per course of the catalog in id order:
       [{"id", "service": "grader-<id>", "port": formgrader.basePort + i, "portName": "grader-<i>"}].
       Port names are at most 15 characters, so they number the courses. */}}
{{- define "coursehub.formgrader.list" -}}
{{- $ids := list }}
{{- range (include "coursehub.catalog.courses" . | fromJsonArray) }}
{{- $ids = append $ids (toString .id) }}
{{- end }}
{{- $graders := list }}
{{- range $index, $id := sortAlpha $ids }}
{{- $graders = append $graders (dict "id" $id "service" (printf "grader-%s" $id) "port" (add $.Values.formgrader.basePort $index) "portName" (printf "grader-%d" $index)) }}
{{- end }}
{{- toJson $graders }}
{{- end }}

{{- /* The Secret that tells the hub where each formgrader is and holds their API tokens. */}}
{{- define "coursehub.formgrader.secretName" -}}
{{- include "coursehub.fullname" . }}-formgraders
{{- end }}

{{- /* The service's database settings, for every container that opens it (the service, the
       workspaces' init container, the formgraders reading their gradebook). */}}
{{- define "coursehub.service.dbEnv" -}}
{{- if .Values.service.db.url }}
- name: COURSEHUB_SERVICE_DB_URL
  value: {{ .Values.service.db.url | quote }}
{{- else if .Values.service.db.existingSecret }}
- name: COURSEHUB_SERVICE_DB_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.service.db.existingSecret }}
      key: url
{{- end }}
{{- with .Values.service.db.existingSecret }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: password
      optional: true
{{- end }}
{{- end }}
