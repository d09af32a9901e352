# The operator's image, for people with docker or podman:
#   docker build -t tekton-chains-operator:v0.1.0 .
# `make image` builds the same image without a daemon (hack/image.sh).
FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin tekton-chains-operator \
 && strip target/release/tekton-chains-operator

# glibc, libgcc and CA certificates; a nonroot user (65532).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/tekton-chains-operator /usr/local/bin/tekton-chains-operator
USER 65532:65532
WORKDIR /
# One binary for both modes: `operator` (the default here), `signer`, `run`.
ENTRYPOINT ["/usr/local/bin/tekton-chains-operator"]
CMD ["operator"]
