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

CHECK_TARGETS += images-lint images-check compose-check chart-check pipelines-check

.PHONY: images images-lint images-check compose-check compose-up compose-down chart-check pipelines-check

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

chart-check: venv $(HELM)
	$(HELM) lint --strict --kube-version $(KUBERNETES_VERSION) $(CHART)
	@for values in $(CHART)/ci/*.yaml; do $(HELM) lint --strict --kube-version $(KUBERNETES_VERSION) $(CHART) --values $$values || exit 1; done
	@rm -rf tools/cache/chart && mkdir -p tools/cache/chart
	$(HELM) template driftloop $(CHART) --kube-version $(KUBERNETES_VERSION) > tools/cache/chart/default.yaml
	@for values in $(CHART)/ci/*.yaml; do \
	    $(HELM) template driftloop $(CHART) --kube-version $(KUBERNETES_VERSION) --values $$values > tools/cache/chart/$$(basename $$values) || exit 1; \
	done
	$(BIN)/kubernetes-validate --kubernetes-version $(KUBERNETES_VERSION) --strict --quiet tools/cache/chart/*.yaml
	$(BIN)/pytest -q tests/unit/ship/test_chart.py

# nonunicode: the vendored Azure Pipelines schema has a pattern with escapes (`\:` in its git ref
# name pattern) that ECMAScript unicode mode rejects: the default check crashes on any file using it.
pipelines-check: venv
	$(BIN)/check-jsonschema --builtin-schema vendor.azure-pipelines --regex-variant nonunicode \
	    azure-pipelines/*.yml azure-pipelines/templates/*.yml
