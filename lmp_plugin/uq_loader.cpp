/* ----------------------------------------------------------------------
   lammps-uq: loads libpython and the Python bridge library on demand.
------------------------------------------------------------------------- */

#include "uq_bridge.h"
#include "uq_build_info.h"
#include "uq_checks.h"

#include <dlfcn.h>
#include <string>

#ifndef LMP_UQ_LIBPYTHON
#define LMP_UQ_LIBPYTHON ""
#endif

using namespace LAMMPS_NS;

namespace {

// make the CPython API visible to extension modules: reuse the host's
// interpreter when there is one, else open the library the package was built with
bool ensure_libpython(std::string &error)
{
  if (void *host = dlsym(RTLD_DEFAULT, "Py_IsInitialized")) {
    // the host already has a Python (its PYTHON/ML-IAP package, or lmp run from Python):
    // the bridge shares it, so it must be the minor version the bridge was built for
    auto version = (const char *(*) ()) dlsym(RTLD_DEFAULT, "Py_GetVersion");
    Dl_info info;
    std::string library = dladdr(host, &info) && info.dli_fname ? info.dli_fname : "the host";
    error = uq_checks::python_refusal(LMP_UQ_PYTHON_VERSION, LMP_UQ_BUILD_PYTHON,
                                      version ? version() : "unknown", library);
    return error.empty();
  }
  const char *env = getenv("LAMMPS_UQ_LIBPYTHON");
  std::string path = (env && *env) ? env : LMP_UQ_LIBPYTHON;
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL)) return true;
  error = "fix uq cannot load the Python library '" + path + "': " + dlerror() +
      " (set LAMMPS_UQ_LIBPYTHON to the path of libpython3.so of the Python that has lammps_uq)";
  return false;
}

}    // namespace

UQBridge *LAMMPS_NS::uq_load_bridge(std::string &error)
{
  if (!ensure_libpython(error)) return nullptr;
  std::string dir = uq_checks::library_dir();
  std::string lib = dir + "/_uqbridge.so";
  void *handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    error = "fix uq cannot load its Python bridge '" + lib + "': " + dlerror();
    return nullptr;
  }
  using factory_t = UQBridge *(*) (const char *, char *, int);
  auto factory = (factory_t) dlsym(handle, "uq_bridge_new");
  if (!factory) {
    error = "fix uq: '" + lib + "' has no uq_bridge_new symbol";
    return nullptr;
  }
  char buf[4096] = {0};
  UQBridge *bridge = factory(dir.c_str(), buf, sizeof(buf));
  if (!bridge) error = buf;
  return bridge;
}
