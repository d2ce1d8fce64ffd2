/* ----------------------------------------------------------------------
   lammps-uq: the refusal messages of uqplugin.so (see uq_checks.h).
------------------------------------------------------------------------- */

#include "uq_checks.h"

#include <cstdio>
#include <cstring>
#include <dlfcn.h>

using namespace LAMMPS_NS;

namespace {
const char *const REBUILD =
    "rebuild lammps-uq against the LAMMPS you run: pip install --no-build-isolation "
    "-C cmake.define.LAMMPS_SOURCE_DIR=<its lammps/src> <lammps-uq source> "
    "(docs/cluster.md)";

// "3.12.1 (main, ...)" -> "3.12"
std::string major_minor(const std::string &version)
{
  auto first = version.find('.');
  if (first == std::string::npos) return version;
  auto end = version.find_first_not_of("0123456789", first + 1);
  return version.substr(0, end);
}

void copy_out(const std::string &text, char *buf, int size)
{
  if (!buf || size <= 0) return;
  std::snprintf(buf, size, "%s", text.c_str());
}
}    // namespace

std::string uq_checks::version_name(int numver)
{
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int month = (numver / 100) % 100;
  if (month < 1 || month > 12) return std::to_string(numver);
  return std::to_string(numver % 100) + " " + months[month - 1] + " " +
      std::to_string(numver / 10000);
}

std::string uq_checks::version_refusal(int built, int host)
{
  if (built == host) return "";
  return "fix uq plugin not loaded: compiled for LAMMPS " + version_name(built) +
      ", loaded into LAMMPS " + version_name(host) + " (class layouts differ between versions); " +
      REBUILD;
}

std::string uq_checks::sizes_refusal(const int built[3], const int host[3])
{
  if (std::memcmp(built, host, 3 * sizeof(int)) == 0) return "";
  char text[160];
  std::snprintf(text, sizeof(text),
                "bigint/tagint/imageint of %d/%d/%d bytes, loaded into a LAMMPS with %d/%d/%d",
                built[0], built[1], built[2], host[0], host[1], host[2]);
  return std::string("fix uq plugin not loaded: compiled with ") + text +
      "; rebuild with -DLAMMPS_SIZES=<the LAMMPS_SIZES of that LAMMPS> or LAMMPS_BUILD_DIR";
}

std::string uq_checks::mpi_refusal(const std::string &built_family, const std::string &host_library)
{
  bool host_openmpi = host_library.find("Open MPI") != std::string::npos;
  if (host_openmpi == (built_family == "Open MPI")) return "";
  std::string host = host_library.substr(0, host_library.find_first_of("\r\n,"));
  std::string text = "fix uq plugin not loaded: compiled with " + built_family;
  text += " headers, loaded into a LAMMPS running on '" + host + "' (a different MPI ABI); ";
  text += "rebuild with the MPI of that LAMMPS: -DMPI_CXX_COMPILER=<its mpicxx>, ";
  return text + REBUILD;
}

std::string uq_checks::python_refusal(const std::string &built_version,
                                      const std::string &built_python,
                                      const std::string &host_version,
                                      const std::string &host_library)
{
  std::string running = major_minor(host_version);
  if (running == built_version) return "";
  std::string text = "fix uq: this LAMMPS already runs Python " + running + " (" + host_library;
  text += ", its PYTHON or ML-IAP package), but the lammps-uq bridge was built for Python ";
  text += built_version + " (" + built_python + "); install lammps-uq and its Python ";
  text += "dependencies (numpy, ase, vesin; torch, mace-torch for MACE) with a Python " + running;
  text += " interpreter (python" + running + " -m venv ENV; ENV/bin/pip install ...), rebuild ";
  return text + "the plugin there and put ENV's site-packages on PYTHONPATH";
}

// ctypes twins for the tests: the message is written into buf; the return value is its length
extern "C" int lmp_uq_version_refusal(int built, int host, char *buf, int size)
{
  std::string text = uq_checks::version_refusal(built, host);
  copy_out(text, buf, size);
  return (int) text.size();
}

extern "C" int lmp_uq_python_refusal(const char *built_version, const char *built_python,
                                     const char *host_version, const char *host_library, char *buf,
                                     int size)
{
  std::string text =
      uq_checks::python_refusal(built_version, built_python, host_version, host_library);
  copy_out(text, buf, size);
  return (int) text.size();
}

extern "C" int lmp_uq_mpi_refusal(const char *built_family, const char *host_library, char *buf,
                                  int size)
{
  std::string text = uq_checks::mpi_refusal(built_family, host_library);
  copy_out(text, buf, size);
  return (int) text.size();
}

/* ---------------------------------------------------------------------- */

std::string LAMMPS_NS::uq_checks::library_dir()
{
  Dl_info info;
  if (!dladdr((void *) &library_dir, &info) || !info.dli_fname) return ".";
  std::string path(info.dli_fname);
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}
