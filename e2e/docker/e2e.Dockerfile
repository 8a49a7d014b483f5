# The spec runner's image for e2e/compose.e2e.yml: Node.js 20, Debian's
# Chromium (Playwright drives it through executablePath, as in e2e/run), the
# pinned npm packages, and the cairn binary for `cairn ctl` setup steps.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p cairn

FROM node:20-bookworm
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium openssl util-linux \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/cairn /usr/local/bin/cairn
WORKDIR /src
COPY e2e/ e2e/
COPY docs/book/src/observability.md docs/book/src/observability.md
RUN cd e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
