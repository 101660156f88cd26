#!/usr/bin/env bash
# Install matforge for development with the DFT extra (GPAW).
#
# GPAW compiles against libxc, BLAS / LAPACK and MPI: on Debian / Ubuntu this
# installs the missing build packages with apt-get (sudo when not root), then
# matforge itself, editable, with the dev and dft extras (Debian's chromium too, for
# the browser test of `matforge serve`). Elsewhere install a C
# compiler, libxc, OpenBLAS, LAPACK and Open MPI first (conda-forge: gpaw).
#
#   bash install.sh              # uses `python3` on PATH (activate a venv first)
#   PYTHON=python3.11 ./install.sh
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
PACKAGES=(build-essential libxc-dev libopenblas-dev liblapack-dev libopenmpi-dev openmpi-bin chromium)

if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
  if ((${#missing[@]})); then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "installing Debian packages: ${missing[*]}"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
  fi
else
  echo "no apt-get: make sure a C compiler, libxc, OpenBLAS, LAPACK and Open MPI" \
       "(with mpicc and mpiexec) are installed before GPAW builds" >&2
fi

"$PYTHON" -m pip install -e ".[dev,dft]"
"$PYTHON" -c "import gpaw, gpaw_data; print('GPAW', gpaw.__version__, 'ready')"
