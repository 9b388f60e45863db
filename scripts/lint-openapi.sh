#!/usr/bin/env bash
# lint-openapi.sh lints the merged OpenAPI spec (proto/openapi/
# fusionize.swagger.json) with Redocly CLI's recommended rules, and fails on
# any error (security schemes on every operation among them). Warnings are
# printed, not fatal.
#
# Redocly CLI is installed from the npm registry at a pinned version into
# a cache directory ($FUSIONIZE_TOOLS_DIR, default ~/.cache/fusionize/tools),
# once; later runs reuse it. Needs node and npm.
#
# Usage: scripts/lint-openapi.sh [spec...]   (from anywhere in the repository)
set -euo pipefail

# Pinned version: 2.77.0 installs and runs on Node.js 20.
REDOCLY_CLI_VERSION=2.77.0

cd "$(git rev-parse --show-toplevel)"

for tool in node npm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "lint-openapi: $tool not found: install Node.js and npm (apt-get install nodejs npm)" >&2
		exit 1
	fi
done

dir="${FUSIONIZE_TOOLS_DIR:-$HOME/.cache/fusionize/tools}/redocly-cli-$REDOCLY_CLI_VERSION"
redocly="$dir/node_modules/.bin/redocly"
if [[ -x "$redocly" ]] && [[ "$("$redocly" --version 2>/dev/null)" == "$REDOCLY_CLI_VERSION" ]]; then
	echo "lint-openapi: @redocly/cli $REDOCLY_CLI_VERSION already installed"
else
	echo "lint-openapi: installing @redocly/cli $REDOCLY_CLI_VERSION into $dir"
	mkdir -p "$dir"
	npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "@redocly/cli@$REDOCLY_CLI_VERSION"
fi

specs=("$@")
if [[ ${#specs[@]} -eq 0 ]]; then
	specs=(proto/openapi/fusionize.swagger.json)
fi
# No telemetry, no update check: CI reaches only the package registries.
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true "$redocly" lint --format=summary "${specs[@]}"
