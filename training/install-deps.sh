#!/bin/sh
# Installs the training dependencies from Debian (no PyPI). libopenblas0-pthread matters:
# without it Debian's torch falls back to the reference BLAS (about 15x slower matmuls).
set -eu
apt-get update
apt-get install -y python3-torch python3-numpy python3-onnx libopenblas0-pthread
/usr/bin/python3 -c "import torch, numpy, onnx; print('torch', torch.__version__, 'numpy', numpy.__version__, 'onnx', onnx.__version__)"
