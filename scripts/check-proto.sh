#!/usr/bin/env bash
# Fails when the committed generated code under proto/ differs from what proto/gen.sh
# (pinned protoc and plugins) generates from the .proto files now. CI runs it after
# `apt-get install -y protobuf-compiler`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$root/proto/gen.sh" "$tmp"
status=0
# Every generated file must be committed unchanged, and no stale one may remain.
while IFS= read -r f; do
  if ! diff -u "$root/proto/$f" "$tmp/$f"; then
    echo "check-proto: proto/$f differs from a regeneration; run go generate ./proto/..." >&2
    status=1
  fi
done < <(cd "$tmp" && find . -name '*.pb.go' | sed 's#^\./##' | sort)
while IFS= read -r f; do
  if [ ! -f "$tmp/$f" ]; then
    echo "check-proto: proto/$f is not generated from any .proto; delete it" >&2
    status=1
  fi
done < <(cd "$root/proto" && find . -name '*.pb.go' | sed 's#^\./##' | sort)
if [ "$status" -eq 0 ]; then
  echo "check-proto: generated code is up to date"
fi
exit "$status"
