# Sourced by the GPU scripts: puts the directories of the CUDA 13 libraries that llmzip loads
# at run time (NVRTC, cuBLAS, cuRAND, cudart) on LD_LIBRARY_PATH, wherever the GPU machine's
# Python wheels or toolkit installed them.
for n in libnvrtc.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcudart.so.13; do
  d=$(find / -name "$n*" -not -path "/proc/*" 2>/dev/null | head -1)
  [ -n "$d" ] && export LD_LIBRARY_PATH=$(dirname $d):${LD_LIBRARY_PATH:-}
done
