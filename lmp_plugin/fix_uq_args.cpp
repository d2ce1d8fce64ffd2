/* ----------------------------------------------------------------------
   lammps-uq: fix uq keywords after `elements` (README "fix uq reference").
   Every error names the keyword, the value received and what is expected.
------------------------------------------------------------------------- */

#include "fix_uq.h"

#include "atom.h"
#include "error.h"
#include "utils.h"

#include <cstring>

using namespace LAMMPS_NS;

namespace {
const char *const KEYWORDS[] = {"rcut",   "alpha",     "drive",    "dtype",    "device",
                                "threshold", "error_threshold", "max_centres", "separation",
                                "cooldown", "region", "file", "devi", "carve"};

bool is_keyword(const char *word)
{
  for (const char *kw : KEYWORDS)
    if (strcmp(word, kw) == 0) return true;
  return false;
}
}    // namespace

/* ---------------------------------------------------------------------- */

double FixUQ::positive(int narg, char **arg, int iarg, const char *unit)
{
  if (iarg + 1 >= narg) utils::missing_cmd_args(FLERR, fmt::format("fix uq {}", arg[iarg]), error);
  double value = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
  if (!(value > 0.0))
    UQ_ERROR_ALL(iarg + 1, "Fix uq {} must be > 0{}, got {}", arg[iarg], unit, arg[iarg + 1]);
  return value;
}

bigint FixUQ::count(int narg, char **arg, int iarg, bigint minimum)
{
  if (iarg + 1 >= narg) utils::missing_cmd_args(FLERR, fmt::format("fix uq {}", arg[iarg]), error);
  bigint value = utils::bnumeric(FLERR, arg[iarg + 1], false, lmp);
  if (value < minimum)
    UQ_ERROR_ALL(iarg + 1, "Fix uq {} must be an integer >= {}, got {}", arg[iarg], minimum,
               arg[iarg + 1]);
  return value;
}

std::string FixUQ::word(int narg, char **arg, int iarg)
{
  if (iarg + 1 >= narg) utils::missing_cmd_args(FLERR, fmt::format("fix uq {}", arg[iarg]), error);
  return arg[iarg + 1];
}

/* ---------------------------------------------------------------------- */

void FixUQ::parse_keywords(int narg, char **arg, int iarg)
{
  // elements: words up to the next keyword, at most one per atom type
  ++iarg;
  while (iarg < narg && !is_keyword(arg[iarg]) && (int) spec.elements.size() < atom->ntypes)
    spec.elements.emplace_back(arg[iarg++]);
  if ((int) spec.elements.size() != atom->ntypes)
    UQ_ERROR_ALL(iarg - 1, "Fix uq elements: got {} element(s) for {} atom types; expected "
               "one chemical symbol per atom type", spec.elements.size(), atom->ntypes);

  for (; iarg < narg; iarg += 2) {
    const std::string kw = arg[iarg];
    if (kw == "carve") {
      // carve DIR [options of lammps-uq carve]: words up to the next fix uq keyword
      std::string words = word(narg, arg, iarg);
      while (iarg + 2 < narg && !is_keyword(arg[iarg + 2])) words += std::string(" ") + arg[++iarg + 1];
      spec.options.emplace_back("carve", words);
      sel.carve = true;
    } else if (kw == "rcut") {
      rcut = positive(narg, arg, iarg, " Angstrom");
    } else if (kw == "alpha") {
      alpha_auto = iarg + 1 < narg && strcmp(arg[iarg + 1], "auto") == 0;
      if (!alpha_auto) alpha = positive(narg, arg, iarg, " or auto");
      alpha_set = true;
    } else if (kw == "drive") {
      const std::string mode = word(narg, arg, iarg);
      if (mode != "mean" && mode != "none")
        UQ_ERROR_ALL(iarg + 1, "Fix uq drive: got {}; expected mean or none", mode);
      drive = mode == "mean";
    } else if (kw == "dtype" || kw == "device") {
      // evaluator settings: the evaluator checks the value and names it in its error
      spec.options.emplace_back(kw, word(narg, arg, iarg));
    } else if (kw == "threshold" || kw == "error_threshold") {
      if (sel.threshold > 0.0)
        UQ_ERROR_ALL(iarg, "Fix uq {}: threshold and error_threshold exclude each other", kw);
      sel.threshold = positive(narg, arg, iarg, " eV/Angstrom");
      sel.on_error = kw == "error_threshold";
    } else if (kw == "max_centres") {
      sel.max_centres = (int) count(narg, arg, iarg, 1);
    } else if (kw == "separation") {
      sel.separation = positive(narg, arg, iarg, " Angstrom");
    } else if (kw == "cooldown") {
      sel.cooldown = count(narg, arg, iarg, 0);
    } else if (kw == "region") {
      sel.region = positive(narg, arg, iarg, " Angstrom");
    } else if (kw == "file") {
      sel.region_file = word(narg, arg, iarg);
    } else if (kw == "devi") {
      sel.devi_file = word(narg, arg, iarg);
    } else {
      UQ_ERROR_ALL(iarg, "Unknown fix uq keyword {}; expected one of rcut, alpha, drive, "
                 "dtype, device, threshold, error_threshold, max_centres, separation, cooldown, "
                 "region, file, devi, carve", kw);
    }
  }
  check_selection_settings();
}

/* ---------------------------------------------------------------------- */

void FixUQ::check_selection_settings()
{
  if (sel.separation <= 0.0) sel.separation = 2.0 * rcut;
  const bool selecting = sel.threshold > 0.0;
  if (!selecting && (sel.region > 0.0 || !sel.region_file.empty()))
    error->all(FLERR, "Fix uq region/file write snapshots of selected centres: add threshold S "
               "or error_threshold E");
  if (sel.region > 0.0 && sel.region_file.empty())
    error->all(FLERR, "Fix uq region {} needs file PATH for the snapshots", sel.region);
  if (sel.carve && sel.region_file.empty())
    error->all(FLERR, "Fix uq carve carves the region snapshots: add threshold S, region R and "
               "file PATH");
  if (!sel.region_file.empty() && sel.region <= 0.0)
    error->all(FLERR, "Fix uq file {} needs region R (Angstrom) to cut snapshots", sel.region_file);
}
