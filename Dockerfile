# syntax=docker/dockerfile:1
# Profiles as a static binary on distroless, running as nonroot (uid 65532).
#   docker build -t profiles .
#   docker run --rm -p 8080:8080 -e PROFILES_DATABASE_URL=... -e PROFILES_CLICKHOUSE_URL=... profiles
# compose.yaml runs it with Postgres, ClickHouse and NATS.

FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags='-s -w' -o /out/profiles ./cmd/profiles

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/profiles /usr/local/bin/profiles
USER nonroot:nonroot
ENV PROFILES_HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/profiles"]
CMD ["serve"]
