/* ----------------------------------------------------------------------
   lammps-uq: fix uq keywords after `elements` (README "fix uq reference").
   Every error names the keyword, the value received and what is expected.
------------------------------------------------------------------------- */

#include "fix_uq.h"

#include "atom.h"
#include "error.h"
#include "utils.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
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

// a numeric keyword: its word goes to lammps_uq.science.settings.check_settings, the one set of
// rules the fix and the offline tools share; apply_settings() reads it once checked
void FixUQ::setting(int narg, char **arg, int iarg)
{
  spec.options.emplace_back(std::string("setting.") + arg[iarg], word(narg, arg, iarg));
}

void FixUQ::apply_settings()
{
  for (const auto &kv : spec.options) {
    if (kv.first.rfind("setting.", 0) != 0) continue;
    const std::string kw = kv.first.substr(8);
    const char *text = kv.second.c_str();
    if (kw == "alpha" && kv.second == "auto") continue;
    const double value = strtod(text, nullptr);
    if (kw == "rcut") rcut = value;
    else if (kw == "alpha") alpha = value;
    else if (kw == "threshold" || kw == "error_threshold") sel.threshold = value;
    else if (kw == "max_centres") sel.max_centres = (int) strtol(text, nullptr, 10);
    else if (kw == "separation") sel.separation = value;
    else if (kw == "cooldown") sel.cooldown = (bigint) strtoll(text, nullptr, 10);
    else if (kw == "region") sel.region = value;
  }
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
    UQ_ERROR_ALL(first, "Fix uq elements: got {} element(s) ({}) for {} atom types; expected "
               "one chemical symbol per atom type", spec.elements.size(),
               joined(spec.elements), atom->ntypes);

  std::vector<std::string> seen;
  for (; iarg < narg; iarg += 2) {
    const std::string kw = arg[iarg];
    if (!is_keyword(arg[iarg]))
      UQ_ERROR_ALL(iarg, "Unknown fix uq keyword {}; expected one of rcut, alpha, drive, "
                 "dtype, device, threshold, error_threshold, max_centres, separation, cooldown, "
                 "region, file, devi, carve", kw);
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
      while (iarg + 2 < narg && !is_keyword(arg[iarg + 2])) words += std::string(" ") + arg[++iarg + 1];
      spec.options.emplace_back("carve", words);
      sel.carve = true;
    } else if (kw == "alpha") {
      alpha_auto = word(narg, arg, iarg) == "auto";
      alpha_set = true;
      setting(narg, arg, iarg);
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
      // rcut, threshold, error_threshold, max_centres, separation, cooldown, region
      if (kw == "error_threshold") sel.on_error = true;
      setting(narg, arg, iarg);
    }
  }
}

/* ---------------------------------------------------------------------- */

void FixUQ::check_selection_settings()
{
  apply_settings();
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
