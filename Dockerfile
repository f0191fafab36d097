# syntax=docker/dockerfile:1
#
# ampsync container image.
#
#   docker build -t ampsync .
#   docker run --rm ampsync --help
#
# The runtime image holds one binary, its man pages and the sample data, runs as uid/gid
# 65532 and works with a read-only root filesystem given a writable /tmp (TMPDIR), where
# ampsync keeps a snapshot's rows in temporary files during a run.

############################################################################
# Build
############################################################################
FROM rust:1.95-slim-bookworm AS builder

# rustls (ring) and blake3 need only the C compiler the slim image already has:
# no OpenSSL, no pkg-config.
WORKDIR /build

# Cargo reads every target Cargo.toml declares (the test and bench binaries too), and
# the binary embeds migrations/ (refinery) and sql/ at compile time.
COPY Cargo.toml Cargo.lock ./
COPY src/ ./src/
COPY migrations/ ./migrations/
COPY sql/ ./sql/
COPY benches/ ./benches/
COPY tests/ ./tests/

# BuildKit cache mounts keep the registry and compiled dependencies between builds,
# so a source edit recompiles only the crate itself. The binary then writes its man
# pages (ampsync.1, ampsync-sync.1, ...), which need no database.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --bin ampsync \
 && install -D -m 0755 target/release/ampsync /out/ampsync \
 && /out/ampsync man --dir /out/man

############################################################################
# Runtime
############################################################################
# distroless/cc: glibc, libgcc and CA certificates, no shell, no package manager;
# Debian 12 matches the bookworm builder's glibc. The :nonroot variant's user is
# 65532; it is set numerically below so Kubernetes' runAsNonRoot can verify it.
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="ampsync" \
      org.opencontainers.image.description="Keeps a PostgreSQL copy of an Ampersand project's installations, with full history" \
      org.opencontainers.image.licenses="MIT"

COPY --from=builder /out/ampsync /usr/local/bin/ampsync
COPY --from=builder /out/man/ /usr/share/man/man1/
# Saved API responses for `ampsync import` (the docker compose demo uses them).
COPY samples/ /samples/

USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ampsync"]
CMD ["--help"]
