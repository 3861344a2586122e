#!/usr/bin/env bash
# Validates the manifests of deploy/k8s with kubeconform (pinned, from the
# Go module proxy) against the schemas in schemas/ (generated from
# k8s.io/api by schemagen; KEDA's ScaledObject written from KEDA's docs),
# in strict mode: unknown fields, wrong types and missing required fields
# fail. Then checks that every file of testdata/invalid/ is refused, that
# KEDA's maxReplicaCount does not exceed the input topic's partitions,
# and the Prometheus scrape configuration with promtool.
#   deploy/k8s/check.sh            validate
#   deploy/k8s/check.sh --regen    also check that schemas/ is what schemagen writes
set -euo pipefail
cd "$(dirname "$0")"
KUBECONFORM_VERSION=v0.8.0
PARTITIONS=${PARTITIONS:-6} # of the input topic (docker-compose creates transactions:6)
if [ -z "${KUBECONFORM:-}" ]; then
  GOBIN="$(pwd)/.bin" go install "github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}"
  KUBECONFORM="$(pwd)/.bin/kubeconform"
fi
kc() { "$KUBECONFORM" -strict -schema-location 'schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json' "$@"; }

# the kustomization is kubectl's input, not a resource: nothing to validate it against
kc -summary -skip Kustomization ./*.yaml

for f in testdata/invalid/*.yaml; do
  if out=$(kc "$f" 2>&1); then
    echo "FAIL: $f was accepted; it must be refused ($(head -1 "$f"))"; exit 1
  fi
  printf "refused as it must be: %s: %s\n" "$f" "$(echo "${out##*: }" | head -1 | cut -c1-120)"
done

max=$(sed -n 's/^  maxReplicaCount: *\([0-9][0-9]*\).*/\1/p' scaledobject.yaml)
if [ -z "$max" ] || [ "$max" -gt "$PARTITIONS" ]; then
  echo "FAIL: scaledobject.yaml maxReplicaCount '${max}' must be at most the $PARTITIONS partitions of the input topic"; exit 1
fi
echo "maxReplicaCount $max <= $PARTITIONS partitions"

promtool check config prometheus-scrape.yml

if [ "${1:-}" = "--regen" ]; then
  tmp=$(mktemp -d)
  (cd schemagen && go run . -out "$tmp" >/dev/null)
  diff -r schemas "$tmp" && echo "schemas/ is up to date"
  rm -rf "$tmp"
fi
