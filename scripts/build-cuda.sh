#!/usr/bin/env bash
# Builds llmzip with --features cuda on a machine with no GPU and no CUDA toolkit, for
# a GPU machine with a CUDA 13.0 driver and CUDA 13 libraries (cuBLAS, cuRAND, cudart), as
# the lent H100/H200 machines have. Everything comes from PyPI wheels; nothing is installed
# system-wide. Output: target-cuda/release/llmzip (stripped copy: target-cuda/llmzip).
#
# Why each piece:
# - nvcc, nvvm (cicc), crt and cccl headers 13.0: candle-kernels compiles its .cu files to PTX
#   at build time. The PTX version must not be newer than the driver's CUDA (13.0 there).
# - libcublas/libcublasLt/libcurand/libcudart/libnvrtc: cudarc links them by name
#   (dynamic-linking); the GPU machine provides its own at run time.
# - libcuda.so: the driver library only exists where a GPU is; a stub with the driver API's
#   symbol names (generated from cuda.h) satisfies the linker, and the real libcuda.so.1 is
#   loaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
W=${CUDA_WORK:-/tmp/llmzip-cuda}
mkdir -p "$W/whl" "$W/lib"
python3 -m pip download -q --no-deps -d "$W/whl" \
  nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-cuda-cccl==13.0.85 \
  nvidia-cuda-runtime==13.0.96 nvidia-curand==10.4.0.35 nvidia-cublas==13.0.0.19 nvidia-cuda-nvrtc==13.0.88
for w in "$W"/whl/*.whl; do unzip -q -o "$w" -d "$W/x"; done
T=$W/x/nvidia/cu13
# CUDA 13 keeps the CCCL headers (nv/target, cuda/std) in include/cccl
grep -q 'include/cccl' "$T/bin/nvcc.profile" ||
  echo 'SYSTEM_INCLUDES +=  "-isystem" "$(TOP)/include/cccl" $(_SPACE_)' >> "$T/bin/nvcc.profile"
for l in cublas cublasLt curand cudart nvrtc; do
  ln -sf "$(ls "$T"/lib/lib$l.so.* | head -1)" "$W/lib/lib$l.so"
done
gcc -E -P "$T/include/cuda.h" | grep -oE '\bcu[A-Z][A-Za-z0-9_]*\s*\(' | sed 's/\s*(//' | sort -u |
  awk '{print "void "$1"(void){}"}' > "$W/cuda_stub.c"
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$W/lib/libcuda.so.1" "$W/cuda_stub.c"
ln -sf libcuda.so.1 "$W/lib/libcuda.so"
PATH=$T/bin:$PATH CUDA_ROOT=$T CUDA_PATH=$T CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90} LIBRARY_PATH=$W/lib \
  RUSTFLAGS="-L $W/lib" cargo build --release --locked --features cuda --target-dir target-cuda
strip -o target-cuda/llmzip target-cuda/release/llmzip
ls -la target-cuda/llmzip
