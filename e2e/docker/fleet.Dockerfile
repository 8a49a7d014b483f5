# The fleet's image for e2e/compose.e2e.yml: the cairn binary built from this
# checkout, with restic and rclone from Debian 12, as scripts/install-deps
# installs them for e2e/run.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p cairn

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends restic rclone openssl ca-certificates util-linux \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /shared/logs
COPY --from=build /src/target/release/cairn /usr/local/bin/cairn
COPY e2e/docker/rest-server.sh /e2e/docker/rest-server.sh
