# lammps-uq: MPI headers only (never a link to libmpi: the host `lmp` provides it), from the MPI
# the target LAMMPS was built with.  Sets UQ_MPI_INCLUDE and UQ_MPI_FAMILY ("Open MPI", "MPICH").
#   wheel:         the pip `mpich` wheel's include/ (a build requirement), else any MPI;
#   source/config: -DMPI_CXX_COMPILER, else the MPI_CXX_COMPILER in LAMMPS_BUILD_DIR's cache, else
#                  find_package(MPI), never the MPICH of pip's isolated build environment.
# OMPI_SKIP_MPICXX / MPICH_SKIP_MPICXX keep the MPI C++ bindings out: with them Open MPI's mpi.h
# makes the plugin fail to load (undefined symbol _ZN3MPI8Datatype4FreeEv).

function(uq_mpich_wheel_include out)
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c
      "from importlib import metadata; print(next((str(p.locate().parent) for p in (metadata.files('mpich') or []) if str(p).endswith('include/mpi.h')), ''))"
    OUTPUT_VARIABLE include OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  set(${out} "${include}" PARENT_SCOPE)
endfunction()

function(uq_find_mpi out)
  if(NOT MPI_CXX_COMPILER AND LAMMPS_BUILD_DIR AND EXISTS "${LAMMPS_BUILD_DIR}/CMakeCache.txt")
    file(STRINGS "${LAMMPS_BUILD_DIR}/CMakeCache.txt" line REGEX "^MPI_CXX_COMPILER:")
    string(REGEX REPLACE "^[^=]*=" "" compiler "${line}")
    if(compiler)
      set(MPI_CXX_COMPILER "${compiler}" CACHE FILEPATH "MPI C++ compiler wrapper" FORCE)
    endif()
  endif()
  # pip's isolated build environment may hold the mpich wheel: not the MPI of this LAMMPS
  string(REPLACE ":" ";" path "$ENV{PATH}")
  foreach(dir IN LISTS path)
    if(dir MATCHES "pip-build-env")
      list(APPEND CMAKE_IGNORE_PATH "${dir}")
    endif()
  endforeach()
  set(MPI_CXX_SKIP_MPICXX TRUE)
  find_package(MPI REQUIRED COMPONENTS CXX)
  set(${out} "${MPI_CXX_INCLUDE_DIRS}" PARENT_SCOPE)
endfunction()

if(UQ_LAMMPS_SOURCE STREQUAL "wheel")
  uq_mpich_wheel_include(UQ_MPI_INCLUDE)
  set(UQ_MPI_ORIGIN "the pip mpich wheel")
endif()
if(NOT UQ_MPI_INCLUDE)
  uq_find_mpi(UQ_MPI_INCLUDE)
  set(UQ_MPI_ORIGIN "${MPI_CXX_COMPILER}")
  if(NOT UQ_MPI_ORIGIN)
    set(UQ_MPI_ORIGIN "${UQ_MPI_INCLUDE}")
  endif()
endif()

set(UQ_MPI_FAMILY "")
foreach(dir IN LISTS UQ_MPI_INCLUDE)
  if(EXISTS "${dir}/mpi.h" AND NOT UQ_MPI_FAMILY)
    file(STRINGS "${dir}/mpi.h" marks REGEX "define (OMPI_MAJOR_VERSION|MPICH_VERSION) ")
    if(marks MATCHES "OMPI_MAJOR_VERSION")
      set(UQ_MPI_FAMILY "Open MPI")
    elseif(marks MATCHES "MPICH_VERSION")
      set(UQ_MPI_FAMILY "MPICH")
    endif()
  endif()
endforeach()
if(NOT UQ_MPI_FAMILY)
  message(FATAL_ERROR "lammps-uq: mpi.h in '${UQ_MPI_INCLUDE}' is neither Open MPI nor MPICH-ABI; "
    "expected the MPI the target LAMMPS was built with (-DMPI_CXX_COMPILER=<its mpicxx>)")
endif()
message(STATUS "lammps-uq: MPI headers (${UQ_MPI_FAMILY}) ${UQ_MPI_INCLUDE}")
