/* -*- c++ -*- ----------------------------------------------------------
   lammps-uq: what uqplugin.so refuses, as plain functions of the facts.

   Each returns an empty string when all is well, else a one-line message
   naming what was found, what was expected and how to fix it.  No LAMMPS,
   MPI or Python symbols: tests call the extern "C" twins through ctypes.
   Compiled into uqplugin.so and _uqfix.so alike (both live in one folder).
------------------------------------------------------------------------- */

#ifndef LMP_UQ_CHECKS_H
#define LMP_UQ_CHECKS_H

#include <string>

namespace LAMMPS_NS {
namespace uq_checks {

  // "29 Sep 2021" from 20210929 (the value of lammps_version())
  std::string version_name(int numver);

  // plugin compiled for LAMMPS `built` (date number), loaded into `host`
  std::string version_refusal(int built, int host);

  // integer sizes (bytes of bigint, tagint, imageint) compiled vs host
  std::string sizes_refusal(const int built[3], const int host[3]);

  // MPI family compiled for ("Open MPI" or "MPICH") vs MPI_Get_library_version() of the host
  std::string mpi_refusal(const std::string &built_family, const std::string &host_library);

  // Python the bridge was built for ("3.11", its interpreter) vs the one the host already runs
  // (Py_GetVersion(), e.g. "3.12.1 (main, ...)", and the library it came from)
  std::string python_refusal(const std::string &built_version, const std::string &built_python,
                             const std::string &host_version, const std::string &host_library);

  // the folder of the shared library holding this code ("." if unknown)
  std::string library_dir();

}    // namespace uq_checks
}    // namespace LAMMPS_NS

#endif
