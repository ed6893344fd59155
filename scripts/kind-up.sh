#!/usr/bin/env bash
# make kind-up: the whole product on a local kind cluster with Knative, then `skaffold dev`.
#
#   1. creates the kind cluster "sqal" from kind-config.yaml (Kourier's NodePorts published
#      on 127.0.0.1:8081 / :8443);
#   2. installs Knative Serving + Kourier and Knative Eventing + the in-memory channel +
#      the MT channel-based broker, at pinned versions, and waits for them;
#   3. creates the namespace and the Secrets (scripts/gen-secrets.sh, from k8s/secrets/.env);
#   4. runs `skaffold dev` (infra -> migrate Job -> functions, port-forwards
#      http://localhost:8000 -> gateway and http://localhost:8080 -> Keycloak).
#
# Needs: docker (running), kind v0.33.0, kubectl, skaffold v2.16.1, Go (ko is embedded in
# skaffold). Re-running it is safe: every step is idempotent. Tear down:
#   kind delete cluster --name sqal
#
# Environment: KNATIVE_VERSION (default 1.23.0), CLUSTER_NAME (sqal), SKAFFOLD_ARGS (extra
# arguments for skaffold dev, e.g. "--tail=false"), SKIP_SKAFFOLD=1 to stop after step 3.
set -euo pipefail
cd "$(dirname "$0")/.."

KNATIVE_VERSION=${KNATIVE_VERSION:-1.23.0}
CLUSTER_NAME=${CLUSTER_NAME:-sqal}
CONTEXT="kind-${CLUSTER_NAME}"
RELEASES=https://github.com/knative
SERVING_URL="$RELEASES/serving/releases/download/knative-v${KNATIVE_VERSION}"
KOURIER_URL="$RELEASES/net-kourier/releases/download/knative-v${KNATIVE_VERSION}"
EVENTING_URL="$RELEASES/eventing/releases/download/knative-v${KNATIVE_VERSION}"
# Kourier's NodePorts: kind-config.yaml publishes exactly these (tools/manifestcheck checks).
KOURIER_HTTP_NODEPORT=31080
KOURIER_HTTPS_NODEPORT=31443

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'kind-up: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found. $2"
}
need docker "Install Docker (or Podman with KIND_EXPERIMENTAL_PROVIDER=podman)."
need kind "Install it with: go install sigs.k8s.io/kind@v0.33.0"
need kubectl "Install kubectl (any version within one minor of the cluster's)."
need skaffold "Install skaffold v2.16.1 (https://skaffold.dev/docs/install/)."
docker info >/dev/null 2>&1 || die "the Docker daemon is not running"

k() { kubectl --context "$CONTEXT" "$@"; }

# Applies a release manifest, retrying: CRDs registered by the same apply may not be
# served yet on the first attempt.
apply_url() {
  local url=$1 attempt
  for attempt in 1 2 3 4 5; do
    if k apply -f "$url"; then return 0; fi
    echo "apply $url failed (attempt $attempt), retrying in 5s" >&2
    sleep 5
  done
  die "could not apply $url"
}

wait_available() { # namespace
  k wait deployment --all -n "$1" --for=condition=Available --timeout=300s
}

log "kind cluster $CLUSTER_NAME"
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  echo "cluster $CLUSTER_NAME already exists"
else
  kind create cluster --name "$CLUSTER_NAME" --config kind-config.yaml --wait 120s
fi
kubectl config use-context "$CONTEXT" >/dev/null

log "Knative Serving v$KNATIVE_VERSION"
apply_url "$SERVING_URL/serving-crds.yaml"
k wait --for=condition=Established crd/services.serving.knative.dev --timeout=120s
apply_url "$SERVING_URL/serving-core.yaml"
wait_available knative-serving

log "Kourier v$KNATIVE_VERSION"
apply_url "$KOURIER_URL/kourier.yaml"
k patch configmap/config-network -n knative-serving --type merge \
  -p '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
# kind has no load balancer: expose Kourier on fixed NodePorts that kind-config.yaml maps to
# the host.
k patch service/kourier -n kourier-system --type merge -p "{
  \"spec\": {\"type\": \"NodePort\", \"ports\": [
    {\"name\": \"http2\", \"port\": 80, \"protocol\": \"TCP\", \"targetPort\": 8080, \"nodePort\": $KOURIER_HTTP_NODEPORT},
    {\"name\": \"https\", \"port\": 443, \"protocol\": \"TCP\", \"targetPort\": 8443, \"nodePort\": $KOURIER_HTTPS_NODEPORT}
  ]}}"
# Public routes get names that resolve to 127.0.0.1 (sslip.io): gateway.sqal.127.0.0.1.sslip.io
k patch configmap/config-domain -n knative-serving --type merge -p '{"data":{"127.0.0.1.sslip.io":""}}'
wait_available kourier-system

log "Knative Eventing v$KNATIVE_VERSION (in-memory channel, MT channel-based broker)"
apply_url "$EVENTING_URL/eventing-crds.yaml"
k wait --for=condition=Established crd/brokers.eventing.knative.dev --timeout=120s
apply_url "$EVENTING_URL/eventing-core.yaml"
apply_url "$EVENTING_URL/in-memory-channel.yaml"
apply_url "$EVENTING_URL/mt-channel-broker.yaml"
wait_available knative-eventing

log "namespace and Secrets"
k apply -f k8s/base/namespace.yaml
scripts/gen-secrets.sh | k apply -f -
echo "demo users' passwords: k8s/secrets/.env (SQAL_DEMO_PASSWORD, SQAL_DEMO_ADMIN_PASSWORD)"

# Images are built by skaffold's embedded ko and side-loaded into the kind node. They must
# be named kind.local/... so that Knative does not try to resolve them in a registry: make
# kind.local the default repo of this kube-context (skaffold.yaml explains the names).
skaffold config set --kube-context "$CONTEXT" default-repo kind.local >/dev/null

if [ -n "${SKIP_SKAFFOLD:-}" ]; then
  log "cluster ready; run: skaffold dev --kube-context $CONTEXT --default-repo kind.local"
  exit 0
fi

log "skaffold dev (Ctrl-C stops it and deletes what it deployed; the cluster stays)"
cat <<MSG
  http://localhost:8000                          gateway: /api/*, /ws/sensors/, /ws/realtime/
  http://localhost:8080                          Keycloak (realm sqal_realm; admin password in k8s/secrets/.env)
  http://gateway.sqal.127.0.0.1.sslip.io:8081    the same gateway through Kourier
MSG
# shellcheck disable=SC2086 # SKAFFOLD_ARGS is a list of words
exec skaffold dev --kube-context "$CONTEXT" --default-repo kind.local --port-forward=user ${SKAFFOLD_ARGS:-}
