/* ----------------------------------------------------------------------
   lammps-uq: fix uq, local aggregation and global reductions
   (docs/design.md, "One check step under MPI", steps 4-6; twin of
   python/lammps_uq/science/uncertainty.py).
------------------------------------------------------------------------- */

#include "fix_uq.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "utils.h"

#include <algorithm>
#include <cmath>

using namespace LAMMPS_NS;

/* ----------------------------------------------------------------------
   step 4: s_j (unbiased std over members, averaged over x, y, z) and the
   DeePMD deviation sigma_j (population std of the force vector)
------------------------------------------------------------------------- */

void FixUQ::atomic_statistics(const UQEvaluation &ev)
{
  const int nm = info.n_models, nlocal = atom->nlocal;
  const bigint stride = (bigint) ev.nall * 3;
  for (int i = 0; i < nlocal; ++i) {
    double s = 0.0, ss_all = 0.0;
    for (int k = 0; k < 3; ++k) {
      const double *f = ev.forces + (bigint) i * 3 + k;
      const double mean = mean_force(ev, i, k);
      double ss = 0.0;
      for (int l = 0; l < nm; ++l) ss += (f[l * stride] - mean) * (f[l * stride] - mean);
      s += std::sqrt(ss / (nm - 1));
      ss_all += ss;
    }
    s_atom[i] = s / 3.0;
    sigma[i] = std::sqrt(ss_all / nm);
  }
}

/* ----------------------------------------------------------------------
   step 5: s_loc of every owned atom = mean of s over all local and ghost
   atoms within rcut (itself included; paper Eq. 10), with a binned search
   over the Cartesian positions, so any processor grid gives the same sums
------------------------------------------------------------------------- */

void FixUQ::aggregate()
{
  const int nlocal = atom->nlocal, nall = nlocal + atom->nghost;
  double **x = atom->x;
  bins.build(x, nall, rcut);
  for (int i = 0; i < nlocal; ++i) {
    double sum = 0.0;
    int count = 0;
    bins.visit(x, x[i], rcut, [&](int j, double) {
      sum += s_atom[j];
      ++count;
    });
    s_local[i] = sum / count;
  }
}

/* ----------------------------------------------------------------------
   step 6: per-atom outputs and the global vector (docs/design.md,
   "Selection and output")
------------------------------------------------------------------------- */

void FixUQ::reduce_globals(const UQEvaluation &ev)
{
  const int nlocal = atom->nlocal, nm = info.n_models;
  const int *mask = atom->mask;
  // sums: s, count, sigma, atoms over the threshold, atoms past the calibration;
  // maxima: s_loc, s, sigma, -sigma
  double sums[5] = {0.0, 0.0, 0.0, 0.0, 0.0}, maxs[4] = {0.0, 0.0, 0.0, -HUGE_VAL};
  for (int i = 0; i < nlocal; ++i) {
    if (!(mask[i] & groupbit)) {
      for (int k = 0; k < NPERATOM; ++k) peratom[i][k] = 0.0;
      continue;
    }
    const double estimate = error_model.estimate(s_local[i]);
    peratom[i][0] = s_atom[i];
    peratom[i][1] = s_local[i];
    peratom[i][2] = estimate;
    peratom[i][3] = error_model.bound(s_local[i]);
    sums[0] += s_atom[i];
    sums[1] += 1.0;
    sums[2] += sigma[i];
    if (sel.threshold > 0.0 && (sel.on_error ? estimate : s_local[i]) >= sel.threshold)
      sums[3] += 1.0;
    if (error_model.extrapolates(s_local[i])) sums[4] += 1.0;
    maxs[0] = std::max(maxs[0], s_local[i]);
    maxs[1] = std::max(maxs[1], s_atom[i]);
    maxs[2] = std::max(maxs[2], sigma[i]);
    maxs[3] = std::max(maxs[3], -sigma[i]);
  }
  double gsums[5], gmaxs[4];
  MPI_Allreduce(sums, gsums, 5, MPI_DOUBLE, MPI_SUM, world);
  MPI_Allreduce(maxs, gmaxs, 4, MPI_DOUBLE, MPI_MAX, world);
  std::vector<double> energy(nm);
  MPI_Allreduce(ev.energies, energy.data(), nm, MPI_DOUBLE, MPI_SUM, world);
  double emean = 0.0, evar = 0.0;
  for (double e : energy) emean += e / nm;
  for (double e : energy) evar += (e - emean) * (e - emean) / (nm - 1);

  const double count = gsums[1];
  vector[0] = count > 0 ? gsums[0] / count : 0.0;    // structure s
  vector[1] = gmaxs[0];                              // max s_loc
  vector[2] = gmaxs[1];                              // max s_j
  vector[3] = std::sqrt(evar);                       // committee std of the energy
  vector[4] = gsums[3];                              // group atoms over the threshold
  vector[5] = (double) ncentres_total;               // centres selected so far
  vector[6] = gmaxs[2];                              // DeePMD max sigma
  vector[7] = count > 0 ? -gmaxs[3] : 0.0;           // DeePMD min sigma
  vector[8] = count > 0 ? gsums[2] / count : 0.0;    // DeePMD avg sigma
  vector[9] = alpha;
  vector[10] = gsums[4];    // group atoms past the calibration
  warn_beyond_calibration(vector[1]);
}

/* ----------------------------------------------------------------------
   per-atom error estimate e(s_loc) and conformal bound (uq_error_model.h):
   alpha auto evaluates the committee's calibrated model, a number after
   alpha (or the default) is e = alpha * s_loc with no bound
------------------------------------------------------------------------- */

void FixUQ::set_error_model()
{
  error_model = UQErrorModel::constant(alpha);
  if (alpha_auto && info.error_model.alpha > 0.0) {
    error_model = info.error_model;
    alpha = error_model.alpha;    // f_ID[10]: the Eq. 3 factor below the knee
  }
  if (!alpha_auto || comm->me != 0) return;
  const UQErrorCurve &c = error_model.lower;
  utils::logmesg(lmp,
                 "fix uq alpha auto: error estimate {:.6g} * s_loc up to s_loc {:.6g}, "
                 "then power {:.4g}, linear past s_loc {:.6g}; bound {:.4g} x estimate ({:.4g} "
                 "x above s_loc {:.6g}; 0: none recorded){}\n",
                 c.alpha, c.knee, c.b, c.s_max, c.bound_factor, c.bound_factor_high, c.bound_split,
                 error_model.t > 0.0 ? fmt::format(", blended {:.3g}:{:.3g} with the next "
                                                   "calibrated radius",
                                                   1.0 - error_model.t, error_model.t)
                                     : std::string());
}

// once per fix, rank 0: s_loc (max over all ranks, so every rank agrees) beyond the calibration
void FixUQ::warn_beyond_calibration(double max_s_local)
{
  if (warned_beyond || !error_model.extrapolates(max_s_local)) return;
  warned_beyond = true;
  if (comm->me == 0)
    error->warning(FLERR,
                   fmt::format("Fix uq {}: s_loc {:.6g} exceeds the largest s_loc of the "
                               "calibration ({:.6g}); the error estimate and bound are "
                               "extrapolated beyond their data. Calibrate with frames as "
                               "far from training as this run goes",
                               id, max_s_local, error_model.s_max));
}
