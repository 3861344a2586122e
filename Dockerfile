# Builds streamscore, devkafka and loadgen into one small image.
#   docker build --build-arg VERSION=$(git describe --always --dirty) .
# VERSION is what `streamscore version` prints: .dockerignore leaves .git
# out, so the build has no VCS revision to read (default: dev).
FROM golang:1.26-bookworm AS build
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=${VERSION}" -o /out/streamscore ./cmd/streamscore \
 && CGO_ENABLED=0 go build -trimpath -o /out/loadgen ./cmd/loadgen \
 && CGO_ENABLED=0 go build -trimpath -o /out/devkafka ./cmd/devkafka

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/ /usr/local/bin/
COPY models/ /models/
ENTRYPOINT ["/usr/local/bin/streamscore"]
CMD ["run"]
