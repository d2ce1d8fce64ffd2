/* ----------------------------------------------------------------------
   lammps-uq: fix uq/energy (see fix_uq_energy.h).

   It never holds a pointer to its fix uq: every use looks the fix up by id,
   so after `unfix ID` it cannot read freed memory; it says that
   `unfix ID_energy` is needed instead.
------------------------------------------------------------------------- */

#include "fix_uq_energy.h"

#include "error.h"
#include "fix_uq.h"
#include "modify.h"

#include <cstring>

using namespace LAMMPS_NS;

FixUQEnergy::FixUQEnergy(LAMMPS *lmp, int narg, char **arg) : Fix(lmp, narg, arg)
{
  if (narg != 4) error->all(FLERR, "fix uq/energy is created by fix uq ... drive mean|model K");
  parent_id = arg[3];
  scalar_flag = 1;
  global_freq = 1;
  extscalar = 1;
  energy_global_flag = 1;
}

// the fix uq ... drive this fix reports for; an error on every rank if it is gone
FixUQ *FixUQEnergy::parent() const
{
  Fix *fix = uq_compat::fix_by_id(modify, parent_id);
  if (!fix || strcmp(fix->style, "uq") != 0 || !static_cast<FixUQ *>(fix)->drives())
    UQ_ERROR_ALL(UQ_NOLASTLINE,
                 "Fix {} reports the energy of fix uq {} ... drive, "
                 "which no longer exists (unfix {}); add 'unfix {}'",
                 id, parent_id, parent_id, id);
  return static_cast<FixUQ *>(fix);
}

void FixUQEnergy::init()
{
  parent();
}

double FixUQEnergy::compute_scalar()
{
  return parent()->drive_energy;
}
