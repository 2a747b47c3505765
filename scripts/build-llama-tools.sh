#!/usr/bin/env bash
# Builds llama.cpp's own benchmark tools (llama-batched-bench, llama-bench) from
# the llama.cpp source that node-llama-cpp ships in its package (a git bundle),
# so bench/llama-batched.ts compares swirl's runtime with llama.cpp of the very
# same version. Output: .swirl/llama-tools/bin/. Needs cmake and a C++ compiler
# (Debian: apt-get install cmake g++); ~10 min on 2 cores, once.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bundle="$root/node_modules/node-llama-cpp/llama/gitRelease.bundle"
out="$root/.swirl/llama-tools"
if [ -x "$out/bin/llama-batched-bench" ] && [ -x "$out/bin/llama-bench" ]; then
  echo "llama tools: $out/bin (in place)"; exit 0
fi
[ -f "$bundle" ] || { echo "error: $bundle not found: run npm run setup first" >&2; exit 2; }
for t in cmake c++ git; do command -v "$t" >/dev/null || { echo "error: $t not found (Debian: apt-get install cmake g++ git)" >&2; exit 2; }; done
mkdir -p "$out"
rm -rf "$out/src" "$out/build"
git clone -q "$bundle" "$out/src"
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S "$out/src" -B "$out/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null
cmake --build "$out/build" --target llama-batched-bench llama-bench -j"$(nproc)"
mkdir -p "$out/bin"
cp "$out/build/bin/llama-batched-bench" "$out/build/bin/llama-bench" "$out/bin/"
rm -rf "$out/src" "$out/build"
echo "llama tools: $out/bin"
