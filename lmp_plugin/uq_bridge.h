/* -*- c++ -*- ----------------------------------------------------------
   lammps-uq: the interface between fix uq and the Python evaluator.

   The implementation (uq_bridge.cpp) lives in a separate shared library,
   _uqbridge.so, that needs libpython.  uqplugin.so itself never links
   libpython: uq_load_bridge() makes sure an interpreter library is loaded
   (the host's, when LAMMPS is driven from Python; otherwise the one the
   package was built with) and then opens _uqbridge.so.  No Python type
   appears in this header.
------------------------------------------------------------------------- */

#ifndef LMP_UQ_BRIDGE_H
#define LMP_UQ_BRIDGE_H

#include "uq_compat_config.h"
#include "uq_error_model.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace LAMMPS_NS {

// What the fix line asks for.
struct UQEvaluatorSpec {
  std::vector<std::string> args;        // evaluator form and its words, e.g. {"python", "m:f"}
  std::vector<std::string> elements;    // one chemical symbol per atom type
  std::string units;                    // LAMMPS unit style
  std::vector<std::pair<std::string, std::string>> options;    // evaluator keywords (dtype, device)
  // numeric keywords (rcut, alpha, threshold, ...) as written: the Python side parses them
  std::vector<std::pair<std::string, std::string>> settings;
};

// The numeric keywords of the fix line as lammps_uq.science.settings parsed and checked them,
// the one parser of these words; a keyword the line leaves out is absent.
struct UQSettings {
  std::map<std::string, double> real;          // rcut, alpha, threshold, separation, region, ...
  std::map<std::string, long long> integer;    // max_centres, cooldown
  std::map<std::string, std::string> word;     // a word the rules allow (alpha auto)
};

// What the evaluator declares once it is built.
struct UQEvaluatorInfo {
  int n_models = 0;              // committee size N_C
  double ghost_cutoff = 0.0;     // Angstrom of ghost atoms it needs
  int max_exchange_width = 0;    // widest array it passes to the exchanges
  std::vector<int> numbers;      // atomic number per atom type (index 0 unused)
  std::string name;              // for messages
  double alpha = 0.0;            // alpha fitted for this committee at rcut (0: none recorded)
  UQErrorModel error_model;      // calibrated e(s) and bound at rcut (alpha 0: none recorded)
};

// Ghost exchanges the fix offers to the evaluator while it runs.  They return an
// empty string on success, else a message that becomes a Python exception.
class UQExchanger {
 public:
#if UQ_HAVE_FIX_DTOR_THROWS
  virtual ~UQExchanger() noexcept(false) = default;    // as LAMMPS::Fix (a base of FixUQ)
#else
  virtual ~UQExchanger() = default;    // as LAMMPS::Fix before the 2025 line (uq_compat.h)
#endif
  virtual std::string exchange(double *data, int width, bool reverse) = 0;
};

// Arrays of one evaluation: inputs are views of LAMMPS memory; outputs point
// into Python-owned buffers that stay valid until release_outputs().
struct UQEvaluation {
  const double *x = nullptr;        // (nall, 3) positions
  const int *type = nullptr;        // (nall,) LAMMPS types
  const int *image_of = nullptr;    // (nall,) owned index this atom images, or -1
  int nlocal = 0, nall = 0;
  long long step = 0;
  int member = -1;    // in: -1 every member, else only this 0-based member
  UQExchanger *exchanger = nullptr;
  double *forces = nullptr;      // out: (rows, nall, 3), writable; rows = n_models or 1 (member)
  double *energies = nullptr;    // out: (rows,)
  double *virials = nullptr;     // out: (rows, 3, 3) this rank's share of W = sum r (x) f, eV;
                                 //      nullptr when the evaluator returns none
};

class UQBridge {
 public:
  virtual ~UQBridge() = default;
  // Builds the evaluator and parses spec.settings; returns "" or the Python error message.
  virtual std::string create(const UQEvaluatorSpec &spec, UQSettings &parsed) = 0;
  // What the evaluator declares, with its fitted alpha and error model at rcut.
  virtual std::string describe(double rcut, UQEvaluatorInfo &info) = 0;
  // Calls the evaluator; returns "" or the Python error message.
  virtual std::string evaluate(UQEvaluation &ev) = 0;
  // Drops the output buffers of the last evaluate().
  virtual void release_outputs() = 0;
  // The evaluator's own time split since the last call ("" if it keeps none).
  virtual std::string report() = 0;
  // End of a run: the in-situ carving consumer is told and awaited; a line for the log or "".
  virtual std::string finish_run() = 0;
  // Appends one region frame (rows: nrows x 10 = id, type, x, y, z, s_atom, s_local,
  // fx, fy, fz) to path, starting the file if bytes < 0; bytes becomes the new size.
  virtual std::string write_region(const std::string &path, const double *rows, int nrows,
                                   const std::string &info_json, long long &bytes) = 0;
};

// Opens libpython (if the process has none) and _uqbridge.so next to this plugin,
// and returns a new bridge, or nullptr with a message in `error`.
UQBridge *uq_load_bridge(std::string &error);

}    // namespace LAMMPS_NS

extern "C" LAMMPS_NS::UQBridge *uq_bridge_new(const char *plugin_dir, char *errbuf, int errlen);

#endif
