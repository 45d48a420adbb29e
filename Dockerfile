# The Legation node. From the repository root:
#
#   docker build -t legation .
#   docker run --network host -v legation-data:/data legation
#
# Without LEGATION_CHARTER_FILE the container creates a development bloc in /data on its first
# run; for a real bloc, mount the charter and the node's key file (readable by uid 1000, the
# image's `node` user) and set LEGATION_CHARTER_FILE, LEGATION_KEY_FILE and
# LEGATION_KEY_PASSPHRASE: docs/deploy/README.md, and docs/deploy/compose.yaml for a whole bloc.
#
# There is no build step: Node >= 22.18 runs the TypeScript sources directly (type stripping).
#
# Plain Dockerfile syntax, no `# syntax=` line and no BuildKit-only `RUN --mount`: it builds with
# BuildKit, with the classic builder (DOCKER_BUILDKIT=0, docker-compose v1) and where no frontend
# image can be pulled.

# Any Debian-based image with Node >= 22.18 and npm on its PATH and a `node` user (uid 1000):
# the official image by default; `--build-arg NODE_IMAGE=…` for a mirror or a locally built
# stand-in (test-network/docker/stand-in-base.sh builds one from Debian's packages).
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- Dependencies ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app

# The node runs .ts files as they are; an older Node would fail at the first import.
RUN node -e "const [a, b] = process.versions.node.split('.').map(Number); \
  if (a < 22 || (a === 22 && b < 18)) { console.error('Legation needs Node >= 22.18, this image has ' + process.version); process.exit(1) }"

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
# Node runs everything. Install scripts run afterwards, in `npm rebuild`: classic-level (LevelDB,
# under `level`) ships prebuilt addons for linux x64 and arm64, and only where none fits does its
# rebuild fail; then node-gyp's tools are installed and it is tried once more. So the usual build
# downloads no compiler, and a registry that cannot be reached fails at once, not after that.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && { npm rebuild \
    || { apt-get update \
      && apt-get install -y --no-install-recommends python3 make g++ \
      && rm -rf /var/lib/apt/lists/* \
      && npm rebuild; }; }

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
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY protocol/src protocol/src
COPY portal/index.html portal/vite.config.ts portal/
COPY portal/src portal/src
RUN npm run build --workspace @legation/portal

# ---- Runtime ----
FROM ${NODE_IMAGE}
WORKDIR /app

# Installed dependencies (with the workspace links in node_modules/@legation), then the sources
# the node and the admin CLI run; tests, docs and the test network stay out. All of it stays
# root's: the node's user can read it, not change it.
COPY --from=deps /app ./
COPY protocol/src protocol/src
COPY node/src node/src
COPY admin-cli/src admin-cli/src
COPY --from=portal /app/portal/dist portal/dist

# Given in the environment, these win over a config file (file → environment → flags): pass
# -e (or compose's `environment:`) to change them; `docker run … legation node
# node/bin/legation-node.js --help` lists every LEGATION_* variable. HTTP on every interface of
# the container (the default, 127.0.0.1, is unreachable from outside its own network namespace);
# libp2p on a fixed port to publish; the store on the volume. On the host network
# (docs/deploy/compose.yaml) set both to the host's loopback or a private address instead.
ENV NODE_ENV=production \
  LEGATION_HTTP_HOST=0.0.0.0 \
  LEGATION_HTTP_PORT=8080 \
  LEGATION_P2P_LISTEN=/ip4/0.0.0.0/tcp/4001 \
  LEGATION_DATA_DIR=/data

# The `node` user (uid 1000) of the base image owns the data and nothing else. Key files and
# the charter are mounted read-only from the host (e.g. under /etc/legation): a key file must be
# readable by uid 1000 (`chown 1000 node.key; chmod 0400 node.key`), the charter by anyone.
# A new named volume takes /data's owner, so the node can write to it from its first start.
RUN mkdir -p /data /etc/legation && chown node:node /data && chmod 0700 /data
USER node
VOLUME ["/data"]

# 8080: the HTTP API (LEGATION_HTTP_PORT); 4001: libp2p (LEGATION_P2P_LISTEN).
EXPOSE 8080 4001

# Liveness through GET /health, at the address the node listens on (bin/legation-healthcheck.js;
# the slim image has no curl).
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=3 \
  CMD ["node", "node/bin/legation-healthcheck.js"]

# The node stops gracefully on SIGTERM (`docker stop`), flushing its store; give it the time
# (`docker stop -t 30`, compose's stop_grace_period). The launcher checks the Node version,
# then runs node/src/bin.ts.
STOPSIGNAL SIGTERM
CMD ["node", "node/bin/legation-node.js"]
