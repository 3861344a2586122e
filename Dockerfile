# Builds streamscore, devkafka and loadgen into one small image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/streamscore ./cmd/streamscore \
 && CGO_ENABLED=0 go build -trimpath -o /out/loadgen ./cmd/loadgen \
 && CGO_ENABLED=0 go build -trimpath -o /out/devkafka ./cmd/devkafka

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
COPY models/ /models/
ENTRYPOINT ["/usr/local/bin/streamscore"]
CMD ["run"]
