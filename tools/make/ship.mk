# Shipping artefacts (issue 7): images, compose, Helm chart, Azure DevOps pipelines, each checked by
# the tool its ecosystem trusts. `make test` runs the *-check and images-lint targets; `images`,
# `compose-up` and `compose-down` need a Docker engine and are for machines that have one.
HELM ?= tools/cache/bin/helm
CHART := charts/driftloop
IMAGE_SERVICES := scoring feature-engineering telemetry-forwarder retrain-controller
# Registry prefix for `make images`, e.g. myregistry.azurecr.io/ (with the slash; empty: local).
IMAGE_PREFIX ?=
IMAGE_TAG ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)
IMAGE_VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' services/common/pyproject.toml)
COMPOSE ?= docker compose
# Kubernetes schemas the rendered chart is validated against (a version AKS supports).
KUBERNETES_VERSION ?= 1.33.0
# The ServiceMonitor and PrometheusRule are validated against the prometheus-operator CRDs, generated
# from the operator's own API types (a Go module) by controller-gen, as upstream generates them.
PROMETHEUS_OPERATOR_VERSION ?= v0.95.2
CONTROLLER_GEN_VERSION ?= v0.23.0
CRDS := tools/cache/crds/prometheus-operator-$(PROMETHEUS_OPERATOR_VERSION)

CHECK_TARGETS += images-lint images-check compose-check chart-check pipelines-check

.PHONY: images images-lint images-check compose-check compose-up compose-down chart-check crd-schemas pipelines-check

images:
	@for service in $(IMAGE_SERVICES); do \
	    docker build -f docker/$$service.Dockerfile -t $(IMAGE_PREFIX)driftloop-$$service:$(IMAGE_TAG) \
	        --build-arg VERSION=$(IMAGE_VERSION) --build-arg REVISION=$$(git rev-parse HEAD) . || exit 1; \
	done

images-lint: venv
	$(BIN)/hadolint docker/*.Dockerfile

images-check: venv
	$(BIN)/python docker/check_images.py

compose-check: venv
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

compose-up:
	$(COMPOSE) up --build --detach --wait

compose-down:
	$(COMPOSE) down --volumes

$(HELM):
	bash tools/setup.d/30-helm.sh

# The CRDs the chart's optional monitoring objects are checked against (tests/unit/ship/crd_schema.py).
crd-schemas: $(CRDS)/monitoring.coreos.com_servicemonitors.yaml

$(CRDS)/monitoring.coreos.com_servicemonitors.yaml:
	@rm -rf $(CRDS).build && mkdir -p $(CRDS).build/module tools/cache/bin
	cd $(CRDS).build/module && printf 'module crds\n\ngo 1.24\n' > go.mod && \
	    printf 'package crds\n\nimport _ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"\n' > crds.go && \
	    go get github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring@$(PROMETHEUS_OPERATOR_VERSION) && \
	    go mod tidy && \
	    GOBIN=$(abspath tools/cache/bin) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION) && \
	    $(abspath tools/cache/bin)/controller-gen crd:crdVersions=v1,allowDangerousTypes=true \
	        paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 output:crd:dir=../out
	@mkdir -p $(CRDS) && cp $(CRDS).build/out/monitoring.coreos.com_servicemonitors.yaml \
	    $(CRDS).build/out/monitoring.coreos.com_prometheusrules.yaml $(CRDS)/ && rm -rf $(CRDS).build

# Every value set in ci/ is linted and rendered; the rendered manifests are validated against the
# Kubernetes schemas (kinds from CRDs are checked by the unit tests against the CRDs' schemas), then
# the chart unit tests run. The default render also runs without --kube-version (what a first
# `helm template` does).
chart-check: venv $(HELM) crd-schemas
	$(HELM) lint --strict --kube-version $(KUBERNETES_VERSION) $(CHART)
	@for values in $(CHART)/ci/*.yaml; do $(HELM) lint --strict --kube-version $(KUBERNETES_VERSION) $(CHART) --values $$values || exit 1; done
	$(HELM) template driftloop $(CHART) > /dev/null
	@rm -rf tools/cache/chart && mkdir -p tools/cache/chart
	$(HELM) template driftloop $(CHART) --kube-version $(KUBERNETES_VERSION) > tools/cache/chart/default.yaml
	@for values in $(CHART)/ci/*.yaml; do \
	    $(HELM) template driftloop $(CHART) --kube-version $(KUBERNETES_VERSION) --values $$values > tools/cache/chart/$$(basename $$values) || exit 1; \
	done
	$(BIN)/python tests/unit/ship/manifest_schemas.py --kubernetes-version $(KUBERNETES_VERSION) --crds $(CRDS) tools/cache/chart/*.yaml
	$(BIN)/pytest -q tests/unit/ship/test_chart.py tests/unit/ship/test_chart_conventions.py \
	    tests/unit/ship/test_chart_monitoring.py tests/unit/ship/test_first_install.py

# nonunicode: the vendored Azure Pipelines schema has a pattern with escapes (`\:` in its git ref
# name pattern) that ECMAScript unicode mode rejects: the default check crashes on any file using it.
pipelines-check: venv
	$(BIN)/check-jsonschema --builtin-schema vendor.azure-pipelines --regex-variant nonunicode \
	    azure-pipelines/*.yml azure-pipelines/templates/*.yml
