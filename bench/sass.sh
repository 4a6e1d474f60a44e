#!/usr/bin/env bash
# Shows the SASS (sm_90) that a JIT-generated CUDA source compiles to, without a GPU, so that instruction order can be
# read (are a batch's loads issued before the code that uses them? are stores held back by loads?). This machine's
# nvcc 13 has no disassembler, so: nvcc 13 writes PTX, its .version is lowered to 7.8, and ptxas and nvdisasm from
# Debian's CUDA 11.8 (package nvidia-cuda-toolkit, non-free; only unpacked, not installed) compile and disassemble it.
# ptxas 11.8 is not the driver's compiler: register counts have matched nvcc 13's on the kernels compared so far, the
# schedule may differ in detail. Sources: engine/target/jit-sources/*.cu (written by BlockMaskKernelsJitTest and the
# other *JitTest/*NvccTest classes).
#   bash bench/sass.sh engine/target/jit-sources/poolPairsBF16-H200.cu > pool.sass
#   bash bench/sass.sh FILE.cu --summary     # counts of loads, stores, barriers, FMAs and MMAs, run-length encoded
set -euo pipefail
src=${1:?usage: bench/sass.sh FILE.cu [--summary]}
tk=${CUDA118_DIR:-/tmp/cuda-11.8-tools}
if [[ ! -x $tk/usr/bin/nvdisasm ]]; then
  grep -rqs "non-free" /etc/apt/sources.list.d/ || cat > /etc/apt/sources.list.d/nonfree.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq >/dev/null
  d=$(mktemp -d)
  (cd "$d" && apt-get download -qq nvidia-cuda-toolkit >/dev/null 2>&1)
  mkdir -p "$tk" && dpkg -x "$d"/nvidia-cuda-toolkit_*.deb "$tk" && rm -rf "$d"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
nvcc -arch=sm_90 -ptx "$src" -o "$work/k.ptx"
sed 's/^\.version .*/.version 7.8/' "$work/k.ptx" > "$work/k78.ptx"
"$tk/usr/bin/ptxas" -arch=sm_90 -v "$work/k78.ptx" -o "$work/k.cubin" 2>&1 | grep -E "Used|spill" >&2
"$tk/usr/bin/nvdisasm" -c "$work/k.cubin" | grep -v '^\s*$' > "$work/k.sass"
if [[ ${2:-} == --summary ]]; then
  ops="LDG[.A-Z0-9]*|STG[.A-Z0-9]*|LDS[.A-Z0-9]*|STS[.A-Z0-9]*|LDSM[.A-Z0-9]*|LDGSTS[.A-Z0-9]*|BAR[.A-Z]*"
  ops+="|HMMA[.A-Z0-9]*|FFMA|MUFU[.A-Z0-9]*"
  grep -oE "$ops" \
    "$work/k.sass" | uniq -c | awk '{printf "%s x%s; ", $2, $1} END {print ""}'
else
  cat "$work/k.sass"
fi
