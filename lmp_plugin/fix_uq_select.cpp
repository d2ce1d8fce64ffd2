/* ----------------------------------------------------------------------
   lammps-uq: fix uq, centre selection, region snapshots and the DeePMD
   model-deviation file (docs/design.md, "Selection and output"; twin of
   lammps_uq.science.selection).

   Candidates are owned group atoms over the threshold that are the maximum
   of s_loc within `separation` (ties: lower atom id wins), found with ghost
   atoms, so every processor grid sees the same candidates.  Rank 0 gathers
   the candidates only, applies greedy non-maximum suppression with periodic
   distances, the per-check budget and the cooldown memory, and broadcasts.
------------------------------------------------------------------------- */

#include "fix_uq.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "update.h"

#include <algorithm>
#include <cmath>

using namespace LAMMPS_NS;

namespace {
constexpr int CAND = 5;    // tag, s_loc, x, y, z
constexpr int ROW = 11;    // centre, tag, type, x, y, z, s_atom, s_loc, fx, fy, fz

// gathers n*width doubles from every rank onto rank 0 (in rank order)
std::vector<double> gather_rows(const std::vector<double> &mine, MPI_Comm world, int me, int nprocs)
{
  int n = (int) mine.size();
  std::vector<int> counts(nprocs), displs(nprocs, 0);
  MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, world);
  std::vector<double> all;
  if (me == 0) {
    for (int p = 1; p < nprocs; ++p) displs[p] = displs[p - 1] + counts[p - 1];
    all.resize(displs[nprocs - 1] + counts[nprocs - 1]);
  }
  MPI_Gatherv(mine.data(), n, MPI_DOUBLE, all.data(), counts.data(), displs.data(), MPI_DOUBLE, 0,
              world);
  return all;
}
}    // namespace

/* ----------------------------------------------------------------------
   after the statistics of a check: select, snapshot, write (all ranks)
------------------------------------------------------------------------- */

void FixUQ::select_and_write(const UQEvaluation &ev)
{
  if (sel.threshold > 0.0) {
    share_local_values(ev);
    std::vector<double> chosen = choose_centres(find_candidates());
    vector[5] = (double) ncentres_total;
    if (sel.region > 0.0 && !chosen.empty()) write_regions(chosen);
  }
  if (!sel.devi_file.empty()) stop_if_failed(comm->me == 0 ? write_devi() : "");
}

/* ----------------------------------------------------------------------
   s_loc and the committee-mean force of every owned atom, sent to ghosts
------------------------------------------------------------------------- */

void FixUQ::share_local_values(const UQEvaluation &ev)
{
  for (int i = 0; i < atom->nlocal; ++i) {
    extra[4 * i] = s_local[i];
    for (int k = 0; k < 3; ++k) extra[4 * i + 1 + k] = mean_force(ev, i, k);
  }
  comm_nall = ev.nall;
  comm_rows(extra, 1, 4, false);
}

/* ---------------------------------------------------------------------- */

std::vector<double> FixUQ::find_candidates()
{
  const int nlocal = atom->nlocal, nall = nlocal + atom->nghost;
  const int *mask = atom->mask;
  const tagint *tag = atom->tag;
  double **x = atom->x;
  bins.build(x, nall, sel.separation);
  std::vector<double> mine;
  for (int i = 0; i < nlocal; ++i) {
    const double value = sel.on_error ? error_model.estimate(extra[4 * i]) : extra[4 * i];
    if (!(mask[i] & groupbit) || value < sel.threshold) continue;
    bool best = true;
    bins.visit(x, x[i], sel.separation, [&](int j, double) {
      if (!(mask[j] & groupbit) || j == i) return;
      const double sj = extra[4 * j], si = extra[4 * i];
      if (sj > si || (sj == si && tag[j] < tag[i])) best = false;
    });
    if (best) mine.insert(mine.end(), {(double) tag[i], extra[4 * i], x[i][0], x[i][1], x[i][2]});
  }
  return mine;
}

/* ----------------------------------------------------------------------
   rank 0: greedy non-maximum suppression; everyone gets the chosen rows
------------------------------------------------------------------------- */

std::vector<double> FixUQ::choose_centres(const std::vector<double> &mine)
{
  std::vector<double> all = gather_rows(mine, world, comm->me, comm->nprocs);
  std::vector<double> chosen;
  if (comm->me == 0) {
    const bigint now = update->ntimestep;
    std::vector<int> order(all.size() / CAND);
    for (size_t c = 0; c < order.size(); ++c) order[c] = (int) c;
    std::sort(order.begin(), order.end(), [&](int a, int b) {
      if (all[CAND * a + 1] != all[CAND * b + 1]) return all[CAND * a + 1] > all[CAND * b + 1];
      return all[CAND * a] < all[CAND * b];
    });
    // the cooldown memory (recent) keeps (step, x, y, z) of centres chosen less than `cooldown` ago
    std::vector<double> kept;
    for (size_t m = 0; m < recent.size(); m += 4)
      if (now - (bigint) recent[m] < sel.cooldown)
        kept.insert(kept.end(), &recent[m], &recent[m] + 4);
    recent.swap(kept);
    for (int c : order) {
      if ((int) chosen.size() / CAND >= sel.max_centres) break;
      const double *p = &all[CAND * c + 2];
      if (near_any(p, chosen, CAND, 2) || near_any(p, recent, 4, 1)) continue;
      chosen.insert(chosen.end(), &all[CAND * c], &all[CAND * c] + CAND);
    }
    for (size_t c = 0; c < chosen.size(); c += CAND)
      recent.insert(recent.end(), {(double) now, chosen[c + 2], chosen[c + 3], chosen[c + 4]});
  }
  int n = (int) chosen.size();
  MPI_Bcast(&n, 1, MPI_INT, 0, world);
  chosen.resize(n);
  MPI_Bcast(chosen.data(), n, MPI_DOUBLE, 0, world);
  ncentres_total += n / CAND;
  return chosen;
}

// true if p is within `separation` (periodic) of any point stored at rows[k*width+offset]
bool FixUQ::near_any(const double *p, const std::vector<double> &rows, int width, int offset)
{
  for (size_t r = 0; r + width <= rows.size(); r += width) {
    double d[3] = {p[0] - rows[r + offset], p[1] - rows[r + offset + 1],
                   p[2] - rows[r + offset + 2]};
    uq_compat::minimum_image_big(domain, FLERR, d);
    if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < sel.separation * sel.separation) return true;
  }
  return false;
}

/* ----------------------------------------------------------------------
   the owner of each centre sends every atom within `region` (local and
   ghost, so already unwrapped around the centre); rank 0 writes the frames
------------------------------------------------------------------------- */

void FixUQ::write_regions(const std::vector<double> &chosen)
{
  const int nall = atom->nlocal + atom->nghost;
  double **x = atom->x;
  std::vector<double> mine;
  for (size_t c = 0; c < chosen.size(); c += CAND) {
    auto it = owner.find((tagint) chosen[c]);
    if (it == owner.end()) continue;
    const double *centre = x[it->second];
    const double r2max = sel.region * sel.region;
    for (int j = 0; j < nall; ++j) {
      const double dx = x[j][0] - centre[0], dy = x[j][1] - centre[1], dz = x[j][2] - centre[2];
      if (dx * dx + dy * dy + dz * dz > r2max) continue;
      mine.insert(mine.end(),
                  {(double) (c / CAND), (double) atom->tag[j], (double) atom->type[j], x[j][0],
                   x[j][1], x[j][2], s_atom[j], extra[4 * j], extra[4 * j + 1], extra[4 * j + 2],
                   extra[4 * j + 3]});
    }
  }
  std::vector<double> all = gather_rows(mine, world, comm->me, comm->nprocs);
  std::string err;
  for (size_t c = 0; comm->me == 0 && err.empty() && c < chosen.size(); c += CAND) {
    std::vector<double> rows;
    for (size_t r = 0; r < all.size(); r += ROW)
      if ((size_t) all[r] == c / CAND) rows.insert(rows.end(), &all[r] + 1, &all[r] + ROW);
    err = bridge->write_region(sel.region_file, rows.data(), (int) rows.size() / (ROW - 1),
                               region_info((tagint) chosen[c], chosen[c + 1]), region_bytes);
    if (!err.empty())
      err = fmt::format("cannot write region file {} at step {}: {}", sel.region_file,
                        update->ntimestep, err);
  }
  stop_if_failed(err);
}

/* ---------------------------------------------------------------------- */

std::string FixUQ::region_info(tagint centre, double centre_s_local)
{
  const double *h = domain->h;
  return fmt::format(
      "{{\"step\": {}, \"centre_id\": {}, \"centre_s_local\": {:.17g}, \"alpha\": {:.17g}, "
      "\"n_models\": {}, \"rcut\": {:.17g}, \"region\": {:.17g}, \"parent_cell\": [{:.17g}, 0, 0, "
      "{:.17g}, {:.17g}, 0, {:.17g}, {:.17g}, {:.17g}], \"parent_pbc\": [{}, {}, {}], "
      "\"parent_natoms\": {}, \"units\": \"{}\"}}",
      update->ntimestep, centre, centre_s_local, alpha, info.n_models, rcut, sel.region, h[0], h[5],
      h[1], h[4], h[3], h[2], domain->xperiodic ? "true" : "false",
      domain->yperiodic ? "true" : "false", domain->zperiodic ? "true" : "false", atom->natoms,
      spec.units);
}
