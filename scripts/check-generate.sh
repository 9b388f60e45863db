#!/usr/bin/env bash
# check-generate.sh regenerates the protobuf code and OpenAPI spec into the
# tree (make generate) and fails if anything under proto/ differs from what is
# committed: a modified or deleted file, or a new untracked one.
#
# Usage: scripts/check-generate.sh   (from anywhere in the repository)
set -euo pipefail

cd "$(git rev-parse --show-toplevel)"

make --no-print-directory generate

status=0
if ! git diff --exit-code --stat -- proto/; then
	status=1
fi
untracked="$(git ls-files --others --exclude-standard -- proto/)"
if [[ -n "$untracked" ]]; then
	echo "untracked files under proto/:"
	echo "$untracked" | sed 's/^/  /'
	status=1
fi

if [[ $status -ne 0 ]]; then
	cat >&2 <<'MSG'

check-generate: generated code under proto/ is out of date.
Run `make generate` and commit the result (see `git diff -- proto/`).
MSG
	exit 1
fi
echo "check-generate: proto/ is up to date"
