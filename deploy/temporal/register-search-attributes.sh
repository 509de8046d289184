#!/bin/sh
# One-shot (temporalio/admin-tools): make sure the namespace exists and that the custom
# search attributes the workflows set are registered, all Keyword:
#   CaseId CaseType CaseStatus CustomerId RiskLevel   (workflows/common.py)
# Idempotent: an existing namespace or attribute is left alone. The worker checks the same
# at start-up (core.temporal.ensure_search_attributes); doing it here first means no
# workflow ever starts on a server that does not know its attributes.
set -eu

ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_RETENTION:-30d}"
ATTRIBUTES="CaseId CaseType CaseStatus CustomerId RiskLevel"

retry() {
    # retry <what> <command...>: a fresh server or namespace takes a few seconds to settle.
    what="$1"
    shift
    n=0
    until "$@"; do
        n=$((n + 1))
        if [ "$n" -ge 30 ]; then
            echo "gave up: ${what}" >&2
            return 1
        fi
        echo "not yet: ${what} (attempt ${n}); retrying" >&2
        sleep 3
    done
}

export TEMPORAL_ADDRESS="$ADDRESS"
retry "Temporal at ${ADDRESS} is healthy" temporal operator cluster health

if temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
    echo "namespace ${NAMESPACE} exists"
else
    retry "create namespace ${NAMESPACE}" \
        temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION"
fi

for name in $ATTRIBUTES; do
    listed=$(retry "list search attributes of ${NAMESPACE}" \
        temporal operator search-attribute list --namespace "$NAMESPACE")
    if printf '%s\n' "$listed" | grep -qw "$name"; then
        echo "search attribute ${name} exists"
    else
        retry "create search attribute ${name}" \
            temporal operator search-attribute create --namespace "$NAMESPACE" \
            --name "$name" --type Keyword
    fi
done
echo "namespace ${NAMESPACE} and its search attributes are ready"
