# Tekton Chains operator: common tasks. `make test` is what CI runs.
SHELL := /bin/bash
BIN := tekton-chains-operator
CRD_COPIES := crds/crds.yaml config/crd/crds.yaml helm/tekton-chains-operator/crds/crds.yaml

.PHONY: all build test test-unit test-integration lint crds cluster-up cluster-down run tools bench

all: build

build:
	cargo build --release

## Unit tests, then integration tests against a real kube-apiserver + etcd.
test: test-unit test-integration

test-unit:
	cargo test --lib --bins

test-integration: tools
	bash hack/test-integration.sh

## Benchmarks against a real API server, registry and Rekor; prints figures (BENCH_ONLY=signer|oci|transparency).
bench: tools
	bash hack/bench.sh

## Builds kube-apiserver, etcd, cosign, rekor-server, rekor-cli and Trillian from the Go
## module proxy, and unpacks Debian's docker-registry and MariaDB, once (cached in ~/.cache).
tools:
	bash hack/tools.sh kube >/dev/null
	bash hack/tools.sh cosign >/dev/null
	bash hack/tools.sh registry >/dev/null
	bash hack/tools.sh rekor >/dev/null
	bash hack/tools.sh mariadb >/dev/null

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

## Regenerates the CRD manifests from the Rust types.
crds:
	cargo run -q -- crd > crds/crds.yaml
	cp crds/crds.yaml config/crd/crds.yaml
	cp crds/crds.yaml helm/tekton-chains-operator/crds/crds.yaml

## A local control plane; kubeconfig at .cluster/kubeconfig.
cluster-up:
	bash hack/cluster.sh up .cluster

cluster-down:
	bash hack/cluster.sh down .cluster

## Both loops in one process against the current kubeconfig.
run:
	cargo run -- run --system-namespace $${SYSTEM_NAMESPACE:-openshift-pipelines} --leader-election=false
