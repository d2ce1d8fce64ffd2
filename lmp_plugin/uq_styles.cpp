/* ----------------------------------------------------------------------
   lammps-uq: registration of `fix uq` and `fix uq/energy` (in _uqfix.so).

   Called by uqplugin.so once the host LAMMPS is the one this was compiled
   for, so plugin.version is that version: LAMMPS logs nothing extra.
------------------------------------------------------------------------- */

#include "lammpsplugin_abi.h"
#include "uq_build_info.h"

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

extern "C" void lmp_uq_register_styles(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  auto register_plugin = (lammpsplugin_regfunc) regfunc;

  plugin.version = LMP_UQ_LAMMPS_VERSION;
  plugin.style = "fix";
  plugin.name = "uq";
  plugin.info =
      "fix uq: committee force uncertainties, aggregated locally (lammps-uq " LMP_UQ_VERSION
      ", built for LAMMPS " LMP_UQ_LAMMPS_VERSION ")";
  plugin.author = "lammps-uq developers";
  plugin.creator.v2 = (lammpsplugin_factory2 *) &fix_uq_creator;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);

  plugin.name = "uq/energy";
  plugin.info = "fix uq/energy: driving energy of fix uq ... drive mean or model K (internal)";
  plugin.creator.v2 = (lammpsplugin_factory2 *) &fix_uq_energy_creator;
  (*register_plugin)(&plugin, lmp);
}
