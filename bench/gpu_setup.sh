# Source on the GPU machine, from the project's root, once every piece that
# `python -m bench.stage_gpu` built is in /tmp/st (see docs/benchmarks.md, "The GPU check"):
#   source bench/gpu_setup.sh && python3 -m bench.gpu_check --out "$OUT/gpu"
# The first time it puts the pieces back together and installs what the machine lacks into
# /tmp/site (python3 -m bench.stage_gpu install); later it only sets the environment.
if [ ! -e /tmp/site/.staged ]; then
  mkdir -p /tmp/stage && cat /tmp/st/p* | tar xf - -C /tmp/stage || return 1
  python3 -m bench.stage_gpu install --stage /tmp/stage --target /tmp/site || return 1
fi
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
# TensorFlow's CUDA 12 libraries and the stand-ins for those it loads but never calls; PyTorch
# and JAX load CUDA 13 libraries, whose sonames differ, so these do not reach them.
export LD_LIBRARY_PATH=/tmp/stage/fake:$(ls -d /tmp/site/nvidia/*/lib 2>/dev/null | tr '\n' ':')${LD_LIBRARY_PATH:-}
# CUDA 12's ptxas last, for TensorFlow's XLA when the machine has none of its own on the path.
export PATH=$PATH:/tmp/site/nvidia/cuda_nvcc/bin
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-1}
