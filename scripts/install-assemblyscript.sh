#!/usr/bin/env bash
# install-assemblyscript.sh installs the AssemblyScript compiler that
# AssemblyScript tasks build with: `npm ci` in guest-sdk/assemblyscript, from
# the versions pinned in its package-lock.json (the npm registry). It is
# idempotent: when node_modules already holds exactly the locked compiler
# version, nothing runs. Needs Node.js 20 or later and npm.
set -euo pipefail
cd "$(dirname "$0")/../guest-sdk/assemblyscript"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "install-assemblyscript: node and npm are needed (Node.js 20 or later)" >&2
	exit 1
fi
want="$(node -p 'require("./package-lock.json").packages["node_modules/assemblyscript"].version')"
have="$(node -p 'try { require("./node_modules/assemblyscript/package.json").version } catch { "" }')"
if [[ "$have" == "$want" && -x node_modules/.bin/asc ]]; then
	echo "install-assemblyscript: assemblyscript $want already installed"
	exit 0
fi
echo "install-assemblyscript: npm ci (assemblyscript $want)"
npm ci --no-audit --no-fund --loglevel=error
