# syntax=docker/dockerfile:1
#
# ampsync container image.
#
#   docker build -t ampsync .
#   docker run --rm ampsync --help
#
# Needs BuildKit (the default builder since Docker 23, and what `docker compose build`
# uses): the optional-file COPYs below rely on BuildKit accepting a wildcard that
# matches nothing, and the helper script is an inline heredoc.
#
# The runtime image holds one binary and the sample data, runs as uid/gid 65532 and
# works with a read-only root filesystem: ampsync writes nothing to disk.

############################################################################
# Build
############################################################################
FROM rust:1.95-slim-bookworm AS builder

# rustls (ring) and blake3 need only the C compiler the slim image already has:
# no OpenSSL, no pkg-config.
WORKDIR /build

# Creates a stand-in for every target file Cargo.toml names or implies (lib, bins,
# benches, tests, examples) that is missing, so Cargo can read the manifest. Used for
# the dependency-only build, and again for the real build, where tests/ and examples/
# are not copied but may be declared in Cargo.toml.
COPY --chmod=0755 <<'EOF' /usr/local/bin/stub-cargo-targets
#!/bin/sh
set -eu
awk '
function val(line) { sub(/^[^=]*=[ \t]*["\047]/, "", line); sub(/["\047].*$/, "", line); return line }
function flush(  p) {
    if (kind == "") return
    p = path
    if (p == "") {
        if (kind == "lib") p = "src/lib.rs"
        else if (kind == "bin") p = (name == "" || name == pkg) ? "src/main.rs" : "src/bin/" name ".rs"
        else if (kind == "bench") p = "benches/" name ".rs"
        else if (kind == "test") p = "tests/" name ".rs"
        else p = "examples/" name ".rs"
    }
    print (kind == "lib" ? "lib" : "main") " " p
    kind = ""; name = ""; path = ""
}
/^[ \t]*\[/ {
    flush()
    sec = $0; sub(/#.*/, "", sec); gsub(/[][ \t]/, "", sec)
    if (sec ~ /^(lib|bin|bench|test|example)$/) kind = sec
    next
}
/^[ \t]*name[ \t]*=/ { if (sec == "package") pkg = val($0); else if (kind != "") name = val($0); next }
/^[ \t]*path[ \t]*=/ { if (kind != "") path = val($0); next }
END { flush() }
' Cargo.toml | while read -r what file; do
    [ -e "$file" ] && continue
    mkdir -p "$(dirname "$file")"
    if [ "$what" = lib ]; then : > "$file"; else echo 'fn main() {}' > "$file"; fi
    echo "stub-cargo-targets: created $file"
done
EOF

# 1. Dependencies only. This layer is rebuilt only when Cargo.toml or Cargo.lock
#    change, not on every source edit.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && stub-cargo-targets \
 && cargo build --release --locked

# 2. The real sources. The binary embeds migrations/ (refinery) and sql/ at compile
#    time. benches/ may be declared in Cargo.toml; benches/, README.md, build.rs and
#    .sqlx/ are copied if present (a crate may `include_str!` its README) and skipped
#    otherwise.
RUN rm -rf src
COPY src/ ./src/
COPY migrations/ ./migrations/
COPY sql/ ./sql/
COPY benche[s] ./benches/
COPY README.m[d] build.r[s] ./
# sqlx's compile-time-checked queries, should the crate use them, build from the
# saved query data in .sqlx/ instead of a live database.
COPY .sql[x] ./.sqlx/
ENV SQLX_OFFLINE=true

# COPY keeps the files' original modification times, which are older than the
# stand-ins built above, so Cargo would take the dummy ampsync artefacts for fresh.
# Drop them and touch the sources so the crate itself is always recompiled; the
# `--help` check fails the build if the dummy binary slipped through anyway.
RUN stub-cargo-targets \
 && rm -rf target/release/.fingerprint/ampsync-* \
           target/release/deps/ampsync-* target/release/deps/libampsync-* \
           target/release/ampsync target/release/ampsync.d \
 && find src -type f -exec touch {} + \
 && cargo build --release --locked \
 && install -D -m 0755 target/release/ampsync /out/ampsync \
 && /out/ampsync --help | grep -q import

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
# Saved API responses for `ampsync import` (the docker compose demo uses them).
COPY samples/ /samples/

USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ampsync"]
CMD ["--help"]
