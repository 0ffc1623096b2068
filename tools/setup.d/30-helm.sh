#!/usr/bin/env bash
# Builds the real helm CLI from the Go module proxy into tools/cache/bin (gitignored), once.
# `make chart-check` and the chart unit tests use it. Idempotent: a second run only checks the version.
set -euo pipefail
cd "$(dirname "$0")/../.."

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
BIN_DIR="$PWD/tools/cache/bin"
HELM="$BIN_DIR/helm"

if [ -x "$HELM" ] && "$HELM" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
    exit 0
fi
if ! command -v go >/dev/null 2>&1; then
    echo "30-helm.sh: go is needed to build helm $HELM_VERSION (helm v3.22 needs Go >= 1.26; older Go fetches that toolchain itself when GOTOOLCHAIN=auto)" >&2
    exit 1
fi
mkdir -p "$BIN_DIR"
echo "30-helm.sh: building helm $HELM_VERSION into $BIN_DIR (first run only)"
# helm reads its version from ldflags; set it so `helm version` and the cache check above agree.
GOBIN="$BIN_DIR" CGO_ENABLED=0 go install \
    -ldflags "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
"$HELM" version --template '{{.Version}}{{"\n"}}'
