/* ----------------------------------------------------------------------
   lammps-uq: uqplugin.so, the gate in front of `fix uq`.

   LAMMPS loads every *plugin.so on LAMMPS_PLUGIN_PATH.  This library uses no
   LAMMPS C++ symbol, so it always loads; it asks the host, through LAMMPS' C
   library API, for its version, integer sizes and MPI, and only when they
   match what the plugin was compiled for does it open _uqfix.so (fix uq
   itself, which needs that exact C++ layout) and register its styles.  On a
   mismatch every rank prints why and registers nothing.
------------------------------------------------------------------------- */

#include "lammpsplugin_abi.h"
#include "uq_build_info.h"
#include "uq_checks.h"

#include "lammps.h"
#include "lmptype.h"

#include <cstdio>
#include <dlfcn.h>
#include <string>

using namespace LAMMPS_NS;

namespace {

template <typename T> T host_symbol(const char *name)
{
  return reinterpret_cast<T>(dlsym(RTLD_DEFAULT, name));
}

// an integer setting of the host through lammps_extract_setting(), or `fallback`
int host_setting(void *lmp, const char *keyword, int fallback)
{
  auto extract = host_symbol<int (*)(void *, const char *)>("lammps_extract_setting");
  return extract ? extract(lmp, keyword) : fallback;
}

// why this plugin must not register in the host, or ""
std::string host_refusal(void *lmp)
{
  // lammps_version() reads num_ver in the host's own layout; the member read is the fallback
  auto version = host_symbol<int (*)(void *)>("lammps_version");
  int host_version = version ? version(lmp) : ((LAMMPS *) lmp)->num_ver;
  std::string why = uq_checks::version_refusal(LMP_UQ_LAMMPS_NUMVER, host_version);
  if (!why.empty()) return why;

  const int built[3] = {(int) sizeof(bigint), (int) sizeof(tagint), (int) sizeof(imageint)};
  const int host[3] = {host_setting(lmp, "bigint", built[0]), host_setting(lmp, "tagint", built[1]),
                       host_setting(lmp, "imageint", built[2])};
  why = uq_checks::sizes_refusal(built, host);
  if (!why.empty()) return why;

  auto library = host_symbol<int (*)(char *, int *)>("MPI_Get_library_version");
  if (!library) return "";    // a serial (STUBS) LAMMPS: nothing to compare
  char text[8192] = {0};
  int len = 0;
  library(text, &len);
  return uq_checks::mpi_refusal(LMP_UQ_MPI_FAMILY, text);
}

void refuse(void *lmp, const std::string &why)
{
  int rank = host_setting(lmp, "world_rank", -1);
  std::fprintf(stderr, "ERROR on proc %d: %s\n", rank, why.c_str());
  std::fflush(stderr);
}

}    // namespace

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  std::string why = host_refusal(lmp);
  if (!why.empty()) return refuse(lmp, why);

  std::string lib = uq_checks::library_dir() + "/_uqfix.so";
  void *styles = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!styles) return refuse(lmp, "fix uq plugin not loaded: " + std::string(dlerror()));
  using register_t = void (*)(void *, void *, void *);
  auto register_styles = (register_t) dlsym(styles, "lmp_uq_register_styles");
  if (!register_styles)
    return refuse(lmp, "fix uq plugin not loaded: " + lib + " has no lmp_uq_register_styles");
  register_styles(lmp, handle, regfunc);
}
