{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "driftloop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. Component names are appended to it, so it is cut to 40 characters to
leave room for the longest suffix ("-telemetry-forwarder") within 63.
*/}}
{{- define "driftloop.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "driftloop.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The four services: values key -> component name (also the image and Service suffix). */}}
{{- define "driftloop.components" -}}
scoring: scoring
featureEngineering: feature-engineering
telemetryForwarder: telemetry-forwarder
retrainController: retrain-controller
{{- end }}

{{/*
Labels every object carries. helm.sh/chart and the version change on upgrade, so they are here
and never in selectorLabels (a Deployment's selector is immutable).
*/}}
{{- define "driftloop.labels" -}}
helm.sh/chart: {{ include "driftloop.chart" . }}
app.kubernetes.io/name: {{ include "driftloop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: driftloop
{{- end }}

{{/* Selector labels: only what stays the same for the life of a release. Call with (dict "root" $ "component" "scoring"). */}}
{{- define "driftloop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "driftloop.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* All labels of one component's objects. Call with (dict "root" $ "component" "scoring"). */}}
{{- define "driftloop.componentLabels" -}}
{{ include "driftloop.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Name of one component's objects, e.g. <release>-driftloop-scoring. */}}
{{- define "driftloop.componentName" -}}
{{- printf "%s-%s" (include "driftloop.fullname" .root) .component }}
{{- end }}

{{/*
Image reference of one component. Call with (dict "root" $ "values" $service). The registry is
global.imageRegistry, else image.registry; a digest (sha256:...) wins over the tag.
*/}}
{{- define "driftloop.image" -}}
{{- $global := .root.Values.global | default dict }}
{{- $registry := $global.imageRegistry | default .root.Values.image.registry | trimSuffix "/" }}
{{- $repository := .values.image.repository }}
{{- if $registry }}
{{- $repository = printf "%s/%s" $registry $repository }}
{{- end }}
{{- if .values.image.digest }}
{{- printf "%s@%s" $repository .values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (.values.image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The pod security context of one component: its own keys over the top-level ones. Call with (dict "root" $ "values" $service). */}}
{{- define "driftloop.podSecurityContext" -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.podSecurityContext) (.values.podSecurityContext | default dict)) }}
{{- end }}

{{/* The container security context of one component: its own keys over the top-level ones. */}}
{{- define "driftloop.securityContext" -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.securityContext) (.values.securityContext | default dict)) }}
{{- end }}


{{/* Account of the pods that need no Kubernetes API access. */}}
{{- define "driftloop.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "driftloop.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The retrain-controller's account (bound to the Role that patches the scoring Deployment). */}}
{{- define "driftloop.controllerServiceAccountName" -}}
{{- if .Values.retrainController.serviceAccount.create }}
{{- default (include "driftloop.componentName" (dict "root" . "component" "retrain-controller")) .Values.retrainController.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.retrainController.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Setting each secrets.keys entry feeds. */}}
{{- define "driftloop.secretVariables" -}}
apiKeys: DRIFTLOOP_AUTH__API_KEYS
featuresApiKey: DRIFTLOOP_FEATURES__API_KEY
adminToken: DRIFTLOOP_AUTH__ADMIN_TOKEN
webhookSecret: DRIFTLOOP_WEBHOOK__SECRET
busConnectionString: DRIFTLOOP_BUS__CONNECTION_STRING
storeUrl: DRIFTLOOP_STORE__URL
azureDevOpsToken: DRIFTLOOP_AZURE_DEVOPS__TOKEN
{{- end }}

{{/* Name of the registry claim. */}}
{{- define "driftloop.registryClaimName" -}}
{{- .Values.registry.persistence.existingClaim | default (printf "%s-registry" (include "driftloop.fullname" .)) }}
{{- end }}

{{/* Name of the training-sets claim (shared by feature-engineering and the retrain-controller). */}}
{{- define "driftloop.datasetsClaimName" -}}
{{- .Values.datasets.persistence.existingClaim | default (printf "%s-datasets" (include "driftloop.fullname" .)) }}
{{- end }}

{{/* Whether a component mounts the training-sets volume. */}}
{{- define "driftloop.usesDatasets" -}}
{{- if has . (list "feature-engineering" "retrain-controller") }}true{{- end }}
{{- end }}

{{/* The seed Job's pod spec (templates/seed-job.yaml): its hash names the Job. */}}
{{- define "driftloop.seedPod" -}}
{{- $seed := .Values.seed }}
{{- $controller := .Values.retrainController -}}
restartPolicy: Never
serviceAccountName: {{ include "driftloop.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
containers:
  - name: seed
    image: {{ $seed.image | default (include "driftloop.image" (dict "root" . "values" $controller)) }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    command: ["python", "-c"]
    args:
      - {{ .Files.Get "files/seed_model.py" | toYaml | indent 8 | trim }}
    env:
      - name: DRIFTLOOP_REGISTRY__PATH
        value: {{ .Values.registry.mountPath | quote }}
      - name: MODEL_NAME
        value: {{ .Values.config.modelName | quote }}
      - name: SEED_SOURCE
        value: {{ $seed.source | quote }}
      - name: SEED_URL
        value: {{ $seed.url | quote }}
      - name: SEED_PATH
        value: {{ $seed.path | quote }}
      - name: SEED_TARGET
        value: {{ $seed.target | quote }}
      - name: SEED_TIME_BUDGET
        value: {{ $seed.timeBudget | quote }}
      - name: SEED_MAX_TRIALS
        value: {{ $seed.maxTrials | quote }}
      - name: TMPDIR
        value: /tmp
      - name: HOME
        value: /tmp
      {{- with .Values.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    resources:
      {{- toYaml $seed.resources | nindent 6 }}
    volumeMounts:
      - name: registry
        mountPath: {{ .Values.registry.mountPath }}
      - name: tmp
        mountPath: /tmp
      {{- if $seed.path }}
      - name: datasets
        mountPath: {{ .Values.datasets.mountPath }}
        readOnly: true
      {{- end }}
volumes:
  - name: registry
    persistentVolumeClaim:
      claimName: {{ include "driftloop.registryClaimName" . }}
  - name: tmp
    emptyDir: {}
  {{- if $seed.path }}
  - name: datasets
    persistentVolumeClaim:
      claimName: {{ include "driftloop.datasetsClaimName" . }}
      readOnly: true
  {{- end }}
{{- end }}

{{/* The policy (docs/policy.md): its ConfigMap, file name and mount, and the components that read it. */}}
{{- define "driftloop.policyName" -}}
{{ include "driftloop.fullname" . }}-policy
{{- end }}

{{- define "driftloop.policyFile" -}}
policy.yaml
{{- end }}

{{- define "driftloop.policyMount" -}}
/etc/driftloop/policy
{{- end }}

{{- define "driftloop.usesPolicy" -}}
{{- if and .root.Values.policy (has .component (list "telemetry-forwarder" "retrain-controller")) }}true{{- end }}
{{- end }}
