/* ----------------------------------------------------------------------
   lammps-uq: fix uq drive mean | model K.

   The driving forces act on the owned atoms every step, their energy is what
   fix uq/energy reports, and their virial W = sum r (x) f (the evaluator's
   per-rank share, summed over ranks by compute pressure as a pair style's
   is) counts in the pressure, so barostats see the committee forces.
   At checks the committee's virial spread becomes the devi file's virial
   columns (DeePMD-kit's definition: population std per component / atoms).
------------------------------------------------------------------------- */

#include "fix_uq.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "modify.h"
#include "update.h"
#include "utils.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <vector>

using namespace LAMMPS_NS;

/* ----------------------------------------------------------------------
   drive mean | model K | none (fix line words at arg[iarg + 1..])
------------------------------------------------------------------------- */

void FixUQ::parse_drive(int narg, char **arg, int &iarg)
{
  const std::string mode = word(narg, arg, iarg);
  if (mode == "mean" || mode == "none") {
    drive = mode == "mean";
    drive_member = -1;
    return;
  }
  if (mode != "model")
    UQ_ERROR_ALL(iarg + 1, "Fix uq drive: got {}; expected mean, model K or none", mode);
  if (iarg + 2 >= narg) utils::missing_cmd_args(FLERR, "fix uq drive model", error);
  const std::string text = arg[iarg + 2];
  char *end = nullptr;
  const long k = strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || k < 1 || k > INT_MAX)
    UQ_ERROR_ALL(iarg + 2,
                 "Fix uq drive model: got {}; expected the number K >= 1 of the "
                 "committee member that drives (1-based, in the sorted order of the members)",
                 text);
  drive = true;
  drive_member = (int) (k - 1);
  ++iarg;    // the keyword loop skips two words: drive and model
}

// once the evaluator is known (every rank has the same committee size)
void FixUQ::check_drive_member()
{
  if (drive_member >= info.n_models)
    UQ_ERROR_ALL(UQ_NOLASTLINE,
                 "Fix uq drive model: got {}, but the committee {} has {} "
                 "members; expected K from 1 to {}",
                 drive_member + 1, info.name, info.n_models, info.n_models);
}

std::string FixUQ::drive_words() const
{
  return drive_member < 0 ? std::string("mean") : fmt::format("model {}", drive_member + 1);
}

/* ----------------------------------------------------------------------
   the fix controlling the pressure in this run, "" if none
------------------------------------------------------------------------- */

std::string FixUQ::pressure_control() const
{
  for (const auto &fix : uq_compat::fix_list(modify)) {
    const std::string style = fix->style;
    if (utils::strmatch(style, "^np[ht]") || utils::strmatch(style, "^nph") ||
        utils::strmatch(style, "press") || utils::strmatch(style, "^box/relax") ||
        utils::strmatch(style, "^rigid/np") || utils::strmatch(style, "^deform/pressure"))
      return fmt::format("fix {} ({})", fix->id, style);
  }
  return "";
}

/* ----------------------------------------------------------------------
   forces, energy and virial of the driving model(s): the committee mean, or
   member K (row K - 1 of a whole-committee evaluation, else the only row)
------------------------------------------------------------------------- */

void FixUQ::apply_drive(const UQEvaluation &ev, int vflag)
{
  const int nlocal = atom->nlocal;
  const int first = drive_member < 0 ? 0 : (ev.member < 0 ? drive_member : 0);
  const int count = drive_member < 0 ? info.n_models : 1;
  double **f = atom->f;
  if (drive_member < 0) {
    for (int i = 0; i < nlocal; ++i)
      for (int k = 0; k < 3; ++k) f[i][k] += unit_factor * mean_force(ev, i, k);
  } else {
    const double *fk = ev.forces + (bigint) first * ev.nall * 3;
    for (int i = 0; i < nlocal; ++i)
      for (int k = 0; k < 3; ++k) f[i][k] += unit_factor * fk[3 * i + k];
  }
  double mine = 0.0;
  for (int l = first; l < first + count; ++l) mine += ev.energies[l] / count;
  MPI_Allreduce(&mine, &drive_energy, 1, MPI_DOUBLE, MPI_SUM, world);
  drive_energy *= unit_factor;

  check_virial_given(ev);
  v_init(vflag);
  if (vflag_global && ev.virials) add_virial(ev, first, count);
}

// this rank's share of the driving virial, LAMMPS order xx yy zz xy xz yz (symmetrized)
void FixUQ::add_virial(const UQEvaluation &ev, int first, int count)
{
  double w[9] = {0.0};
  for (int l = first; l < first + count; ++l)
    for (int c = 0; c < 9; ++c) w[c] += ev.virials[9 * l + c] / count;
  const double s = unit_factor;
  virial[0] += s * w[0];
  virial[1] += s * w[4];
  virial[2] += s * w[8];
  virial[3] += s * 0.5 * (w[1] + w[3]);
  virial[4] += s * 0.5 * (w[2] + w[6]);
  virial[5] += s * 0.5 * (w[5] + w[7]);
}

/* ----------------------------------------------------------------------
   first drive evaluation of a run: an evaluator without virials cannot
   drive under a barostat (it would see zero pressure from our forces)
------------------------------------------------------------------------- */

void FixUQ::check_virial_given(const UQEvaluation &ev)
{
  if (virial_checked) return;
  virial_checked = true;
  int mine = ev.virials ? 1 : 0, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, world);
  if (all) return;
  if (!barostat.empty())
    UQ_ERROR_ALL(
        UQ_NOLASTLINE,
        "Fix uq {} drive {}: evaluator {} returns no virial, so the "
        "pressure control by {} would not see the forces of fix uq; expected an "
        "evaluator whose evaluate() takes virial=True and returns (forces, energies, "
        "virials) (lammps_uq.committee.evaluators.protocol), or a constant-volume ensemble",
        id, drive_words(), info.name, barostat);
  if (thermo_virial && comm->me == 0)
    error->warning(FLERR,
                   "Fix uq {} drive {}: evaluator {} returns no virial; the pressure "
                   "leaves out the forces of fix uq",
                   id, drive_words(), info.name);
}

/* ----------------------------------------------------------------------
   DeePMD-kit model deviation of the virial: per component of the total
   virial W_l (summed over ranks), the population std over members;
   max, min and sqrt(mean of squares) over the 9 components, divided by the
   number of atoms (eV).  Zero if the evaluator returns no virials.
------------------------------------------------------------------------- */

void FixUQ::virial_deviation(const UQEvaluation &ev)
{
  const int nm = info.n_models;
  int mine = ev.virials ? 1 : 0, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, world);
  devi_virial[0] = devi_virial[1] = devi_virial[2] = 0.0;
  if (!all || atom->natoms == 0) return;
  std::vector<double> total(9 * nm);
  MPI_Allreduce(ev.virials, total.data(), 9 * nm, MPI_DOUBLE, MPI_SUM, world);
  double vmax = 0.0, vmin = HUGE_VAL, sumsq = 0.0;
  for (int c = 0; c < 9; ++c) {
    double mean = 0.0, ss = 0.0;
    for (int l = 0; l < nm; ++l) mean += total[9 * l + c] / nm;
    for (int l = 0; l < nm; ++l) ss += (total[9 * l + c] - mean) * (total[9 * l + c] - mean);
    const double std = std::sqrt(ss / nm);
    vmax = std::max(vmax, std);
    vmin = std::min(vmin, std);
    sumsq += std * std;
  }
  const double natoms = (double) atom->natoms;
  devi_virial[0] = vmax / natoms;
  devi_virial[1] = vmin / natoms;
  devi_virial[2] = std::sqrt(sumsq / 9.0) / natoms;
}
