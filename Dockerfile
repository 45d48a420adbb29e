# syntax=docker/dockerfile:1
#
# The Legation node. From the repository root:
#
#   docker build -t legation .
#   docker run -p 8080:8080 -v legation-data:/data legation
#
# Without LEGATION_CHARTER_FILE the container creates a development bloc in /data on its first
# run; for a real bloc, mount the charter and key file and set LEGATION_CHARTER_FILE,
# LEGATION_KEY_FILE and LEGATION_KEY_PASSPHRASE (docs/operations.md § Docker).
#
# There is no build step: Node >= 22.18 runs the TypeScript sources directly (type stripping).

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- Dependencies ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app

# The node runs .ts files as they are; an older Node would fail at the first import.
RUN node -e "const [a, b] = process.versions.node.split('.').map(Number); \
  if (a < 22 || (a === 22 && b < 18)) { console.error('Legation needs Node >= 22.18, this image has ' + process.version); process.exit(1) }"

# node-gyp's tools, in case classic-level (LevelDB, under `level`) has no prebuilt addon for
# this platform; it ships them for linux x64 and arm64, so usually nothing is compiled.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*

# Manifests first, so that the install layer is cached until a dependency changes. Every
# workspace's package.json is needed for `npm ci`; the bin launchers are linked by it.
COPY package.json package-lock.json ./
COPY protocol/package.json protocol/
COPY node/package.json node/
COPY node/bin node/bin
COPY admin-cli/package.json admin-cli/
COPY admin-cli/bin admin-cli/bin
COPY test-network/package.json test-network/
COPY test-network/bin test-network/bin
COPY portal/package.json portal/

# --omit=dev leaves out TypeScript, vitest, biome and fast-check, and the root's `node`
# devDependency, whose install script would download a second Node binary: the image's own
# Node runs everything.
RUN --mount=type=cache,target=/root/.npm \
  npm ci --omit=dev --no-audit --no-fund

# ---- The citizen portal (static files, built with Vite) ----
# Its build tools are devDependencies, left out of the runtime's install: they are installed here,
# without install scripts (the root's `prepare` would build before the sources are here, and the
# `node` devDependency would download a second Node binary), and only portal/dist is kept.
FROM ${NODE_IMAGE} AS portal
WORKDIR /app
COPY package.json package-lock.json ./
COPY protocol/package.json protocol/
COPY node/package.json node/
COPY node/bin node/bin
COPY admin-cli/package.json admin-cli/
COPY admin-cli/bin admin-cli/bin
COPY test-network/package.json test-network/
COPY test-network/bin test-network/bin
COPY portal/package.json portal/
RUN --mount=type=cache,target=/root/.npm \
  npm ci --no-audit --no-fund --ignore-scripts
COPY protocol/src protocol/src
COPY portal/index.html portal/vite.config.ts portal/
COPY portal/src portal/src
RUN npm run build --workspace @legation/portal

# ---- Runtime ----
FROM ${NODE_IMAGE}
WORKDIR /app

# Installed dependencies (with the workspace links in node_modules/@legation), then the sources
# the node and the admin CLI run; tests, docs and the test network stay out.
COPY --from=deps /app ./
COPY protocol/src protocol/src
COPY node/src node/src
COPY admin-cli/src admin-cli/src
COPY --from=portal /app/portal/dist portal/dist

# Given in the environment, these win over a config file (file → environment → flags): pass
# -e to change them. HTTP on every interface of the container (the default, 127.0.0.1, is
# unreachable from outside it); libp2p on a fixed port to publish; the store and keys on the
# volume.
ENV NODE_ENV=production \
  LEGATION_HTTP_HOST=0.0.0.0 \
  LEGATION_P2P_LISTEN=/ip4/0.0.0.0/tcp/4001 \
  LEGATION_DATA_DIR=/data

# The `node` user (uid 1000) of the base image owns the data and nothing else: /app stays root's.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]

# 8080: the HTTP API (LEGATION_HTTP_PORT); 4001: libp2p (LEGATION_P2P_LISTEN).
EXPOSE 8080 4001

# Liveness through GET /health with Node's fetch (the slim image has no curl).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.LEGATION_HTTP_PORT || 8080) + '/health', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# The node stops gracefully on SIGTERM (`docker stop`), flushing its store. The launcher checks
# the Node version, then runs node/src/bin.ts.
CMD ["node", "node/bin/legation-node.js"]
