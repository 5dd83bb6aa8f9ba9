# syntax=docker/dockerfile:1
# One image for every govx service; the subcommand picks the role
# (docker-compose.yml: migrate, seed, exchange, adapter population, ...).
#
#   docker build -t govx .
#   docker run --rm govx <subcommand> [flags]

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# go.mod asks for a specific patch release; fetch it if the image's is older.
ENV CGO_ENABLED=0 GOTOOLCHAIN=auto

# Modules first, in their own layer: it is rebuilt only when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/govx ./cmd/govx \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
# static-debian12 carries CA certificates and tzdata; nothing else is needed.
COPY --from=build /out/govx /govx
# Owned by the image's nonroot user (65532) so a fresh named volume mounted
# here inherits that ownership and govx can write its signing key into it.
COPY --from=build --chown=65532:65532 /out/data /var/lib/govx
ENV GOVX_DATA=/var/lib/govx
VOLUME ["/var/lib/govx"]
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/govx"]
