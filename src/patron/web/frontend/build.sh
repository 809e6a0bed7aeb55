#!/usr/bin/env bash
# Builds the admin web app's vendored front-end files from the npm registry:
#   bash src/patron/web/frontend/build.sh
# It installs the exact versions in package-lock.json into a temporary node_modules and copies
# their built, minified files into ../static/vendor/. Those files are committed, so running Patron
# (and its tests) needs neither npm nor the internet; run this only to change a version.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vendor="$here/../static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp "$here/package.json" "$work/"
[ -f "$here/package-lock.json" ] && cp "$here/package-lock.json" "$work/"
cd "$work"
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --silent; else npm install --no-audit --no-fund --silent; fi
cp package-lock.json "$here/package-lock.json"

mkdir -p "$vendor"
cp node_modules/htmx.org/dist/htmx.min.js "$vendor/htmx.min.js"
cp node_modules/chart.js/dist/chart.umd.min.js "$vendor/chart.umd.min.js"
cp node_modules/htmx.org/LICENSE "$vendor/htmx.LICENSE"
cp node_modules/chart.js/LICENSE.md "$vendor/chart.js.LICENSE.md"
{
    echo "Built by src/patron/web/frontend/build.sh from the npm registry; do not edit."
    for pkg in htmx.org chart.js; do
        echo "$pkg $(node -p "require('./node_modules/$pkg/package.json').version")"
    done
} > "$vendor/VERSIONS.txt"
echo "vendored into $vendor:"
ls -l "$vendor"
