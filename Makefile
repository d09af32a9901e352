# Tekton Chains operator: common tasks. `make test` is what CI runs.
SHELL := /bin/bash
BIN := tekton-chains-operator
CRD_COPIES := crds/crds.yaml config/crd/crds.yaml helm/tekton-chains-operator/files/crds.yaml

.PHONY: all build test test-unit test-fuzz-smoke test-integration test-run fuzz image bundle lint crds cluster-up cluster-down run run-down tools bench chaos

all: build

build:
	cargo build --release

## Unit tests, then integration tests against real components and the `make run` smoke test,
## with a 10 s run of each fuzz target beside them at low priority (FUZZ_SMOKE=serial: before them).
test: test-unit
	bash hack/test.sh

test-unit:
	cargo test --lib --bins

## Fuzzes each target in fuzz/ (cargo-fuzz, nightly) for FUZZ_SECONDS (600); FUZZ_TARGETS,
## FUZZ_JOBS, FUZZ_VECTORS; prints execs, crashes and corpus size; fails on a crash.
fuzz:
	bash hack/fuzz.sh

## Every fuzz target for 10 s (part of `make test`).
test-fuzz-smoke:
	FUZZ_SECONDS=10 bash hack/fuzz.sh

test-integration: tools
	bash hack/test-integration.sh

## Benchmarks against a real API server, registry and Rekor; prints figures (BENCH_ONLY=signer|oci|transparency).
bench: tools
	bash hack/bench.sh

## Fault injection: a burst of TaskRuns signed while the signer is SIGKILLed and the API server,
## registry and Rekor go away briefly; prints figures (CHAOS_RUNS, CHAOS_KILLS, CHAOS_SEED, CHAOS_SETTLE_SECS).
chaos: tools
	bash hack/chaos.sh

## Builds kube-apiserver, etcd, cosign (v2, and v3 for bundles), rekor-server, rekor-cli and Trillian from the Go
## module proxy, and unpacks Debian's docker-registry and MariaDB, once (cached in ~/.cache).
tools:
	bash hack/tools.sh kube >/dev/null
	bash hack/tools.sh cosign >/dev/null
	bash hack/tools.sh cosign3 >/dev/null
	bash hack/tools.sh registry >/dev/null
	bash hack/tools.sh rekor >/dev/null
	bash hack/tools.sh mariadb >/dev/null
	bash hack/tools.sh crane >/dev/null
	bash hack/tools.sh kubectl >/dev/null
	bash hack/tools.sh helm >/dev/null
	bash hack/tools.sh image-base >/dev/null
	bash hack/tools.sh operator-sdk >/dev/null
	bash hack/tools.sh vault >/dev/null
	bash hack/tools.sh local-kms >/dev/null
	bash hack/tools.sh fulcio >/dev/null
	bash hack/tools.sh moto >/dev/null

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

## The container image without a docker daemon (release binary + Debian base, pushed with crane)
## to the local registry (IMAGE_REGISTRY=host:port for another).
image:
	bash hack/image.sh $(IMAGE_REGISTRY)

## Regenerates the OLM bundle (bundle/) from the Rust types, config/rbac, config/manager and the samples.
bundle:
	rm -rf bundle/manifests bundle/metadata
	cargo run -q -- crd --olm-bundle bundle

## Regenerates the CRD manifests from the Rust types; copies the operator's ClusterRole into the chart.
crds:
	cargo run -q -- crd > crds/crds.yaml
	cp crds/crds.yaml config/crd/crds.yaml
	cp crds/crds.yaml helm/tekton-chains-operator/files/crds.yaml
	cp config/rbac/cluster_role.yaml helm/tekton-chains-operator/templates/cluster_role.yaml

## A local control plane; kubeconfig at .cluster/kubeconfig.
cluster-up:
	bash hack/cluster.sh up .cluster

cluster-down:
	bash hack/cluster.sh down .cluster

## One command: a local cluster (or $$KUBECONFIG's), registry and Rekor, the operator with its
## embedded signer, a sample build signed and verified; left running (CI=true: smoke test).
## SIGNER=key (the generated cosign key), kms (a local Vault Transit key) or keyless (a local Fulcio)
SIGNER ?= key
run:
	SIGNER=$(SIGNER) bash hack/run.sh up

run-down:
	bash hack/run.sh down

## The `make run` smoke test, on its own local cluster whatever KUBECONFIG says.
test-run:
	for s in key kms keyless; do \
	  env -u KUBECONFIG RUN_DIR=$(CURDIR)/target/run-smoke SIGNER=$$s CI=true bash hack/run.sh up || exit 1; \
	done
