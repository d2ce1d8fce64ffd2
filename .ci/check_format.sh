#!/usr/bin/env bash
# CI: the plugin's C++ (lmp_plugin/*.cpp, *.h) is formatted as lmp_plugin/.clang-format says
# (LAMMPS' own style). Installs Debian's clang-format when it is missing (needs root); fails,
# listing every place, when `clang-format --dry-run --Werror` finds a change to make.
# To fix: clang-format -i lmp_plugin/*.cpp lmp_plugin/*.h
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v clang-format >/dev/null 2>&1; then
  echo "+ apt-get install clang-format"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang-format \
    >/dev/null
fi
echo "+ $(clang-format --version)"
version=$(clang-format --version | grep -o '[0-9][0-9]*\.[0-9.]*' | head -n 1)
if [ "${version%%.*}" != 14 ]; then
  echo "note: the sources are formatted with clang-format 14 (Debian 12); $version may differ" >&2
fi

shopt -s nullglob
files=(lmp_plugin/*.cpp lmp_plugin/*.h)
if [ "${#files[@]}" -eq 0 ]; then
  echo "no C++ sources under lmp_plugin/" >&2
  exit 1
fi
# --style=file: the .clang-format next to the sources, never a default style
if ! clang-format --style=file --dry-run --Werror "${files[@]}"; then
  echo "clang-format: lmp_plugin/ is not formatted; run clang-format -i lmp_plugin/*.cpp" \
    "lmp_plugin/*.h" >&2
  exit 1
fi
echo "clang-format: ${#files[@]} files in lmp_plugin/ formatted as lmp_plugin/.clang-format says"
