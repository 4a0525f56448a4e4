# syntax=docker/dockerfile:1
# Build: docker build -t promptev-bridge .
# Run:   see README.md, "Docker".
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/promptev-bridge . \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/promptev-bridge /usr/local/bin/promptev-bridge
COPY --from=build --chown=nonroot:nonroot /out/data /var/lib/promptev-bridge
COPY config.example.yaml /etc/promptev-bridge/config.example.yaml
VOLUME ["/var/lib/promptev-bridge"]
WORKDIR /var/lib/promptev-bridge
# The side port (/healthz /readyz /metrics); set http.listen: 0.0.0.0:9464 in the config.
EXPOSE 9464
USER nonroot:nonroot
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/promptev-bridge"]
CMD ["run", "--config", "/etc/promptev-bridge/config.yaml"]
