#!/usr/bin/env bash
# Proof on a second LAMMPS (issue 12): Debian's LAMMPS 29Sep2021 source + Debian's Open MPI.
#
#   .ci/second_lammps.sh [WHEEL_VENV]     (default: <repo>/.venv, made by the README's commands)
#
# 1. installs Open MPI and build tools from Debian (apt-get; needs root);
# 2. gets LAMMPS with `apt-get source lammps` (bookworm: 20220106 git snapshot = 29Sep2021 stable)
#    and builds it with PKG_PLUGIN and shared libraries into the cache
#    ${LAMMPS_UQ_CACHE:-~/.cache/lammps-uq}/lammps-29Sep2021-openmpi (reused when its stamp is valid);
# 3. builds uqplugin.so against that source tree (LAMMPS_SOURCE_DIR) with Open MPI's headers;
# 4. runs tests/test_second_lammps.py with the wheel venv's Python: the 2021 lmp under Open MPI's
#    mpirun on 1 and 2 ranks against the wheel's lmp, and the refused mismatched load.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WHEEL_VENV=$(cd "${1:-$ROOT/.venv}" && pwd)
CACHE=${LAMMPS_UQ_CACHE:-$HOME/.cache/lammps-uq}
TREE=$CACHE/lammps-29Sep2021-openmpi
OPTIONS="-DPKG_PLUGIN=ON -DBUILD_SHARED_LIBS=ON -DBUILD_MPI=ON -DBUILD_OMP=OFF -DCMAKE_BUILD_TYPE=Release"
STAMP="lammps-uq second LAMMPS: $OPTIONS"
JOBS=${LAMMPS_UQ_JOBS:-$(nproc)}

stamp() { echo "[second-lammps $(date +%T)] $*"; }

install_debian_packages() {
  local need=(openmpi-bin libopenmpi-dev g++ make cmake dpkg-dev)
  if dpkg -s "${need[@]}" >/dev/null 2>&1; then return; fi
  stamp "apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
    > "$CACHE/apt.log" 2>&1 || { tail -20 "$CACHE/apt.log" >&2; exit 1; }
}

get_lammps_source() {
  if [ -f "$TREE/src/src/version.h" ]; then return; fi
  local list=/etc/apt/sources.list.d/lammps-uq-deb-src.sources
  if ! apt-get source --print-uris -qq lammps >/dev/null 2>&1; then
    printf '%s\n' "Types: deb-src" "URIs: http://deb.debian.org/debian" "Suites: bookworm" \
      "Components: main" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" > "$list"
    apt-get update -qq
  fi
  stamp "apt-get source lammps"
  rm -rf "$TREE.download" && mkdir -p "$TREE.download" "$TREE"
  (cd "$TREE.download" && apt-get source -qq lammps >/dev/null)
  rm -rf "$TREE/src" && mv "$TREE.download"/lammps-*/ "$TREE/src" && rm -rf "$TREE.download"
  grep -q '"29 Sep 2021"' "$TREE/src/src/version.h" \
    || { echo "expected LAMMPS 29 Sep 2021, got $(cat "$TREE/src/src/version.h")" >&2; exit 1; }
}

build_lammps() {
  # valid: built with these options, and its lmp runs and lists the PLUGIN package
  if [ "$(cat "$TREE/stamp" 2>/dev/null)" = "$STAMP" ] \
      && "$TREE/build/lmp" -h 2>/dev/null | grep -c "PLUGIN" >/dev/null; then
    stamp "cached LAMMPS $TREE/build/lmp"
    return
  fi
  rm -rf "$TREE/build" "$TREE/stamp"
  local start=$SECONDS
  stamp "building LAMMPS 29Sep2021 ($OPTIONS, $JOBS jobs)"
  # shellcheck disable=SC2086
  nice -n 10 cmake -S "$TREE/src/cmake" -B "$TREE/build" $OPTIONS > "$TREE/configure.log"
  nice -n 10 cmake --build "$TREE/build" -j "$JOBS" > "$TREE/build.log"
  echo "$STAMP" > "$TREE/stamp"
  stamp "LAMMPS built in $((SECONDS - start)) s"
}

build_plugin() {
  local start=$SECONDS
  stamp "building uqplugin.so against $TREE/src/src with Open MPI"
  rm -rf "$TREE/plugin"
  # shellcheck disable=SC2086
  cmake -S "$ROOT" -B "$TREE/plugin" -DCMAKE_BUILD_TYPE=Release \
    -DPython_EXECUTABLE="$WHEEL_VENV/bin/python" -DLAMMPS_SOURCE_DIR="$TREE/src/src" \
    -DLAMMPS_BUILD_DIR="$TREE/build" -DMPI_CXX_COMPILER=/usr/bin/mpicxx.openmpi > "$TREE/plugin.log"
  nice -n 10 cmake --build "$TREE/plugin" -j "$JOBS" >> "$TREE/plugin.log"
  stamp "plugin built in $((SECONDS - start)) s"
}

run_proof() {
  stamp "tests/test_second_lammps.py"
  local start=$SECONDS
  LAMMPS_UQ_SECOND_LMP="$TREE/build/lmp" LAMMPS_UQ_SECOND_PLUGIN="$TREE/plugin" \
    LAMMPS_UQ_SECOND_MPIRUN=/usr/bin/mpirun.openmpi \
    "$WHEEL_VENV/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/tests/test_second_lammps.py"
  stamp "proof took $((SECONDS - start)) s"
}

mkdir -p "$CACHE"
exec 9> "$CACHE/second_lammps.lock"    # one build of the cache at a time
flock 9
install_debian_packages
get_lammps_source
build_lammps
[ "${LAMMPS_UQ_BUILD_ONLY:-0}" = 1 ] && exit 0
build_plugin
run_proof
