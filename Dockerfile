# The netverdict image: the CLI (runner, responder, probe agent) plus the real probe tools.
# One image serves as the runner and as the probe pods' image, so an air-gapped cluster needs to
# mirror only this one.
#
#   docker build -t netverdict .
#   docker run --rm -v ~/.kube:/home/nonroot/.kube:ro netverdict run /scenarios
#
# Without Docker, ci/image.sh builds the same contents (the same packages, user and entrypoint)
# from Debian packages alone, reproducibly, as OCI and docker archives.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin netverdict

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl netcat-openbsd bind9-dnsutils ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/netverdict /usr/local/bin/netverdict
COPY scenarios /scenarios
# Pod Security "restricted": a numeric non-root user, so runAsNonRoot can be verified.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/netverdict"]
