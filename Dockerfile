# An image holding aws-init and nothing else, to copy into application
# images (see examples/Dockerfile) or to run as it is. The README's
# "Packaging" section has the command that builds it. scripts/build targets
# x86_64 alone, so the image is for linux/amd64 only. The tests and CI here
# do not build it.

# The same Rust release the project is built and tested with.
FROM rust:1.95-slim AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY scripts/build ./scripts/build
# The static, fixed-address build of scripts/build, which also writes
# aws-init.sha256 beside the binary.
RUN scripts/build

FROM scratch
COPY --from=build /src/target/x86_64-unknown-linux-gnu/release/aws-init /aws-init
COPY --from=build /src/target/x86_64-unknown-linux-gnu/release/aws-init.sha256 /aws-init.sha256
# No CA bundle: the public roots are built into aws-init, and AWS_CA_BUNDLE
# or SSL_CERT_FILE name a bundle of your own.
LABEL org.opencontainers.image.title="aws-init" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="MIT"
# Nothing aws-init does needs root; 65532 is the usual "nonroot" user of
# distroless images.
USER 65532:65532
ENTRYPOINT ["/aws-init"]
