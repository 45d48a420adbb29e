#!/usr/bin/env bash
# Builds a stand-in for the `node:22-bookworm-slim` base image where none can be pulled: a
# minimal Debian bookworm from Debian's own mirror (debootstrap --variant=minbase), the Node 22
# binary that the `node` npm package installed in node_modules, this machine's npm, a `node`
# user with uid 1000 (as in the official image) and this machine's CA bundle (so that npm inside
# a build trusts what the host trusts, a TLS-inspecting proxy included). Imported with
# `docker import` as TAG; then `docker build --build-arg NODE_IMAGE=TAG .` builds the real image.
#
#   sudo test-network/docker/stand-in-base.sh legation-base:stand-in [WORKDIR]
#
# Needs root, debootstrap and a running Docker engine. WORKDIR (default: a new temp dir) holds the
# root filesystem while it is built and is removed at the end.
set -euo pipefail

tag=${1:?usage: stand-in-base.sh TAG [WORKDIR]}
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${2:-$(mktemp -d /tmp/legation-stand-in.XXXXXX)}
rootfs="$work/rootfs"
docker=${DOCKER:-docker}

node_bin=$(cd "$repo" && node_modules/.bin/node -p 'process.execPath')
npm_dir=$(npm root -g)/npm
# The mirror apt already uses (deb822 sources, or a one-line sources.list), else Debian's own.
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
ca=/etc/ssl/certs/ca-certificates.crt

[ -x "$node_bin" ] || { echo "stand-in-base: no Node binary in node_modules (run npm ci)" >&2; exit 1; }
"$node_bin" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 18) ? 0 : 1)' \
  || { echo "stand-in-base: $node_bin is not Node >= 22.18" >&2; exit 1; }
[ -f "$npm_dir/bin/npm-cli.js" ] || { echo "stand-in-base: no npm at $npm_dir" >&2; exit 1; }

trap 'rm -rf "$rootfs"; [ -n "${2:-}" ] || rm -rf "$work"' EXIT
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }

install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules" "$rootfs/usr/local/etc"
cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
if [ -f "$ca" ]; then
  mkdir -p "$rootfs/etc/ssl/certs"
  cp "$ca" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/usr/local/etc/npmrc"
fi
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --create-home --shell /bin/bash node
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

tar -C "$rootfs" -c . | "$docker" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["node"]' \
  - "$tag" >/dev/null
echo "stand-in-base: $tag ($("$docker" run --rm --network host "$tag" node --version), npm $("$docker" run --rm --network host "$tag" npm --version))"
