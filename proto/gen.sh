#!/usr/bin/env bash
# Regenerates the Go code of the protocol buffers under proto/ with pinned generators:
#
#   go generate ./proto/...        (runs this script), or
#   proto/gen.sh [OUTDIR]          (OUTDIR defaults to proto/; scripts/check-proto.sh
#                                   generates into a temporary folder and compares)
#
# Needs protoc 3.21.12 (Debian bookworm: apt-get install -y protobuf-compiler) and the Go
# module proxy, from which it installs protoc-gen-go and protoc-gen-go-grpc at the versions
# below into a cache folder outside the tree. The generated files name these versions in
# their headers, so a different protoc or plugin version would change them: the script
# refuses other protoc versions instead.
set -euo pipefail

PROTOC_VERSION=3.21.12
PROTOC_GEN_GO_VERSION=v1.36.12      # google.golang.org/protobuf, as in go.mod
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1   # google.golang.org/grpc/cmd/protoc-gen-go-grpc

root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/proto}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

if ! command -v protoc >/dev/null; then
  echo "proto/gen.sh: protoc not found; install protoc $PROTOC_VERSION (apt-get install -y protobuf-compiler)" >&2
  exit 1
fi
have="$(protoc --version | awk '{print $2}')"
if [ "$have" != "$PROTOC_VERSION" ]; then
  echo "proto/gen.sh: protoc $have found, want $PROTOC_VERSION (the generated headers name it)" >&2
  exit 1
fi

bin="${HESS_PROTO_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/hess-proto/go-$PROTOC_GEN_GO_VERSION-grpc-$PROTOC_GEN_GO_GRPC_VERSION}"
if [ ! -x "$bin/protoc-gen-go" ] || [ ! -x "$bin/protoc-gen-go-grpc" ]; then
  mkdir -p "$bin"
  GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
  GOBIN="$bin" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi

cd "$root/proto"
protos=$(find . -name '*.proto' | sed 's#^\./##' | sort)
PATH="$bin:$PATH" protoc -I . \
  --go_out="$out" --go_opt=paths=source_relative \
  --go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
  $protos
