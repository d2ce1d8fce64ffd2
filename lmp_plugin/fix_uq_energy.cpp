/* ----------------------------------------------------------------------
   lammps-uq: fix uq/energy (see fix_uq_energy.h).
------------------------------------------------------------------------- */

#include "fix_uq_energy.h"

#include "error.h"
#include "fix_uq.h"
#include "modify.h"

using namespace LAMMPS_NS;

FixUQEnergy::FixUQEnergy(LAMMPS *lmp, int narg, char **arg) :
    Fix(lmp, narg, arg), parent(nullptr)
{
  if (narg != 4) error->all(FLERR, "fix uq/energy is created by fix uq ... drive mean");
  parent_id = arg[3];
  scalar_flag = 1;
  global_freq = 1;
  extscalar = 1;
  energy_global_flag = 1;
}

void FixUQEnergy::init()
{
  parent = dynamic_cast<FixUQ *>(uq_compat::fix_by_id(modify, parent_id));
  if (!parent)
    UQ_ERROR_ALL(UQ_NOLASTLINE, "fix {}: its fix uq {} no longer exists", id, parent_id);
}

double FixUQEnergy::compute_scalar()
{
  return parent ? parent->drive_energy : 0.0;
}
