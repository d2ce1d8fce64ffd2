/* ----------------------------------------------------------------------
   lammps-uq: the fix uq line (docs/fix_uq.md).
   Every error names the keyword, the value received and what is expected.
   The numeric keywords are parsed and checked once, by the Python side
   (lammps_uq.science.settings); apply_settings() takes the parsed values.
------------------------------------------------------------------------- */

#include "fix_uq.h"

#include "atom.h"
#include "error.h"
#include "update.h"
#include "utils.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <utility>

using namespace LAMMPS_NS;

namespace {
constexpr double EV_TO_KCAL_MOL = 23.060547830619026;    // CODATA 2018: eV per (kcal/mol)

const char *const KEYWORDS[] = {
    "rcut",        "alpha",      "drive",    "dtype",  "device", "threshold", "error_threshold",
    "max_centres", "separation", "cooldown", "region", "file",   "devi",      "carve"};

bool is_keyword(const char *word)
{
  for (const char *kw : KEYWORDS)
    if (strcmp(word, kw) == 0) return true;
  return false;
}

std::string joined(const std::vector<std::string> &words)
{
  std::string text;
  for (const auto &w : words) text += (text.empty() ? "" : " ") + w;
  return text;
}

// Fe, O, Uue: what a chemical symbol looks like (an extra element, not a misspelt keyword)
bool looks_like_symbol(const std::string &word)
{
  if (word.empty() || word.size() > 3 || !isupper((unsigned char) word[0])) return false;
  for (size_t k = 1; k < word.size(); ++k)
    if (!islower((unsigned char) word[k])) return false;
  return true;
}
}    // namespace

/* ---------------------------------------------------------------------- */

std::string FixUQ::word(int narg, char **arg, int iarg)
{
  if (iarg + 1 >= narg) utils::missing_cmd_args(FLERR, fmt::format("fix uq {}", arg[iarg]), error);
  return arg[iarg + 1];
}

// a numeric keyword: its word goes to the Python side as written; lammps_uq.science.settings,
// the one set of rules the fix and the offline tools share, parses and checks it, and
// apply_settings() takes the parsed values
void FixUQ::setting(int narg, char **arg, int iarg)
{
  spec.settings.emplace_back(arg[iarg], word(narg, arg, iarg));
}

void FixUQ::apply_settings(const UQSettings &parsed)
{
  const std::pair<const char *, double *> reals[] = {{"rcut", &rcut},
                                                     {"alpha", &alpha},
                                                     {"threshold", &sel.threshold},
                                                     {"error_threshold", &sel.threshold},
                                                     {"separation", &sel.separation},
                                                     {"region", &sel.region}};
  for (const auto &target : reals) {
    const auto found = parsed.real.find(target.first);
    if (found != parsed.real.end()) *target.second = found->second;
  }
  const auto max_centres = parsed.integer.find("max_centres");
  if (max_centres != parsed.integer.end()) sel.max_centres = (int) max_centres->second;
  const auto cooldown = parsed.integer.find("cooldown");
  if (cooldown != parsed.integer.end()) sel.cooldown = (bigint) cooldown->second;
  const auto alpha_word = parsed.word.find("alpha");
  alpha_auto = alpha_word != parsed.word.end() && alpha_word->second == "auto";
  alpha_set = alpha_auto || parsed.real.count("alpha");
}

/* ----------------------------------------------------------------------
   fix ID group uq N evaluator words ... elements E1 E2 ... keyword value ...
------------------------------------------------------------------------- */

void FixUQ::parse_fix_line(int narg, char **arg)
{
  if (narg < 5) utils::missing_cmd_args(FLERR, "fix uq", error);
  nevery = utils::inumeric(FLERR, arg[3], false, lmp);
  if (nevery <= 0)
    UQ_ERROR_ALL(3, "Fix uq N (check every N steps) must be a positive integer, got {}", arg[3]);
  spec.units = update->unit_style;
  if (spec.units != "metal" && spec.units != "real")
    error->all(FLERR, "Fix uq requires units metal or real, got units {}", spec.units);
  if (spec.units == "real") unit_factor = EV_TO_KCAL_MOL;

  // evaluator words run up to the required `elements` keyword
  int iarg = 4;
  while (iarg < narg && strcmp(arg[iarg], "elements") != 0) spec.args.emplace_back(arg[iarg++]);
  if (spec.args.empty())
    UQ_ERROR_ALL(4, "Fix uq needs an evaluator after N, e.g. 'python MODULE:FACTORY'");
  if (iarg == narg)
    error->all(FLERR,
               "Fix uq requires the keyword 'elements' followed by one chemical symbol "
               "per atom type ({} types)",
               atom->ntypes);
  parse_keywords(narg, arg, iarg);
}

/* ---------------------------------------------------------------------- */

void FixUQ::parse_keywords(int narg, char **arg, int iarg)
{
  // elements: the words up to the next keyword, one per atom type
  [[maybe_unused]] const int first = ++iarg;
  while (iarg < narg && !is_keyword(arg[iarg]) &&
         ((int) spec.elements.size() < atom->ntypes || looks_like_symbol(arg[iarg])))
    spec.elements.emplace_back(arg[iarg++]);
  if ((int) spec.elements.size() != atom->ntypes)
    UQ_ERROR_ALL(first,
                 "Fix uq elements: got {} element(s) ({}) for {} atom types; expected "
                 "one chemical symbol per atom type",
                 spec.elements.size(), joined(spec.elements), atom->ntypes);

  std::vector<std::string> seen;
  for (; iarg < narg; iarg += 2) {
    const std::string kw = arg[iarg];
    if (!is_keyword(arg[iarg]))
      UQ_ERROR_ALL(iarg,
                   "Unknown fix uq keyword {}; expected one of rcut, alpha, drive, "
                   "dtype, device, threshold, error_threshold, max_centres, separation, cooldown, "
                   "region, file, devi, carve",
                   kw);
    for (const auto &other : seen)
      if (other == kw) UQ_ERROR_ALL(iarg, "Fix uq keyword {} is given twice", kw);
    const char *other = kw == "threshold" ? "error_threshold" : "threshold";
    if ((kw == "threshold" || kw == "error_threshold") &&
        std::find(seen.begin(), seen.end(), other) != seen.end())
      UQ_ERROR_ALL(iarg, "Fix uq threshold and error_threshold exclude each other; give one");
    seen.push_back(kw);
    if (kw == "carve") {
      // carve DIR [options of lammps-uq carve]: words up to the next fix uq keyword
      std::string words = word(narg, arg, iarg);
      while (iarg + 2 < narg && !is_keyword(arg[iarg + 2]))
        words += std::string(" ") + arg[++iarg + 1];
      spec.options.emplace_back("carve", words);
      sel.carve = true;
    } else if (kw == "drive") {
      parse_drive(narg, arg, iarg);
    } else if (kw == "dtype" || kw == "device") {
      // evaluator settings: the evaluator checks the value and names it in its error
      spec.options.emplace_back(kw, word(narg, arg, iarg));
    } else if (kw == "file") {
      sel.region_file = word(narg, arg, iarg);
    } else if (kw == "devi") {
      sel.devi_file = word(narg, arg, iarg);
    } else {
      // rcut, alpha, threshold, error_threshold, max_centres, separation, cooldown, region
      if (kw == "error_threshold") sel.on_error = true;
      setting(narg, arg, iarg);
    }
  }
}

/* ---------------------------------------------------------------------- */

void FixUQ::check_selection_settings()
{
  if (sel.separation <= 0.0) sel.separation = 2.0 * rcut;
  const bool selecting = sel.threshold > 0.0;
  if (!selecting && (sel.region > 0.0 || !sel.region_file.empty()))
    error->all(FLERR,
               "Fix uq region/file write snapshots of selected centres: add threshold S "
               "or error_threshold E");
  if (sel.region > 0.0 && sel.region_file.empty())
    error->all(FLERR, "Fix uq region {} needs file PATH for the snapshots", sel.region);
  if (sel.carve && sel.region_file.empty())
    error->all(FLERR,
               "Fix uq carve carves the region snapshots: add threshold S, region R and "
               "file PATH");
  if (!sel.region_file.empty() && sel.region <= 0.0)
    error->all(FLERR, "Fix uq file {} needs region R (Angstrom) to cut snapshots", sel.region_file);
}
