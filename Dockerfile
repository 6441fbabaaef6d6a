# syntax=docker/dockerfile:1

# Strata worker image: the Temporal worker (/usr/local/bin/strata-worker, the
# entrypoint) and the starter CLI (/usr/local/bin/strata).
#
#   docker build -t strata-worker .
#   docker run --rm -e STRATA_CATALOG=postgres://... -e TEMPORAL_ADDRESS=host:7233 \
#     -v strata-data:/data strata-worker

# ---- build ------------------------------------------------------------------
# Same Go as go.mod's "go" line; the official image sets GOTOOLCHAIN=local.
FROM golang:1.26.8 AS build

WORKDIR /src
ENV CGO_ENABLED=0

# The cache mounts keep downloaded modules and build results between builds
# (BuildKit, the default builder), so only the modules the binaries need are
# fetched, once.
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /strata-worker ./worker && \
    go build -trimpath -ldflags="-s -w" -o /strata ./starter

# The data directory must exist in the image, owned by the runtime user, so a
# fresh named volume mounted on /data inherits that ownership.
RUN mkdir -p /out/data

# ---- runtime ----------------------------------------------------------------
# Static, shell-less, CA certificates and tzdata included; runs as
# nonroot (uid/gid 65532).
FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=build /strata-worker /usr/local/bin/strata-worker
COPY --from=build /strata /usr/local/bin/strata
COPY --from=build --chown=65532:65532 /out/data /data

USER 65532:65532
WORKDIR /data
# Local provider volumes and snapshots.
VOLUME ["/data"]
ENV STRATA_DATA_DIR=/data

ENTRYPOINT ["/usr/local/bin/strata-worker"]
