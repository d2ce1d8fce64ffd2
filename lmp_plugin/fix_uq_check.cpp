/* ----------------------------------------------------------------------
   lammps-uq: fix uq, one check step (docs/design.md, "One check step under
   MPI"; steps 4-6 are in fix_uq_stats.cpp, 7 in fix_uq_select.cpp).
------------------------------------------------------------------------- */

#include "fix_uq.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "group.h"
#include "update.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

using namespace LAMMPS_NS;

namespace {
constexpr int MAX_BAD_IDS = 10;    // atom ids named per rank in a non-finite error
}

/* ---------------------------------------------------------------------- */

void FixUQ::check(bool statistics, bool drive_forces, int vflag)
{
  grow_storage();
  double t = platform::walltime();
  auto lap = [&](int part) {
    double now = platform::walltime();
    timers[part] += now - t;
    t = now;
  };
  UQEvaluation ev;
  gather(ev);
  // drive model K between checks: member K alone (a check evaluates the whole committee once)
  if (drive_forces && drive_member >= 0 && !statistics) ev.member = drive_member;
  lap(T_GATHER);
  evaluate(ev);
  lap(T_EVALUATE);
  comm_rows(ev.forces, rows_of(ev), 3, true);
  check_finite(ev);
  lap(T_COMM);
  if (drive_forces) apply_drive(ev, vflag);
  ++nevals;
  if (statistics) {
    last_check_step = update->ntimestep;
    check_region_size();    // the box may have shrunk since setup
    atomic_statistics(ev);
    comm_rows(s_atom, 1, 1, false);
    lap(T_COMM);
    aggregate();
    lap(T_AGGREGATE);
    reduce_globals(ev);
    virial_deviation(ev);
    lap(T_OUTPUT);
    // a setup() at the step of the last selection (next run, or a restart) repeats nothing
    if (update->ntimestep > last_selected) {
      select_and_write(ev);
      last_selected = update->ntimestep;
    }
    lap(T_SELECT);
    ++nchecks;
  }
  bridge->release_outputs();
  lap(T_OUTPUT);
}

/* ---------------------------------------------------------------------- */

// committee-mean force on atom i, direction k (eV/Angstrom), after the reverse comm
double FixUQ::mean_force(const UQEvaluation &ev, int i, int k) const
{
  const bigint stride = (bigint) ev.nall * 3;
  double sum = 0.0;
  for (int l = 0; l < info.n_models; ++l) sum += ev.forces[l * stride + (bigint) i * 3 + k];
  return sum / info.n_models;
}

/* ----------------------------------------------------------------------
   step 1: views of positions and types; image_of from the owned atom ids
------------------------------------------------------------------------- */

void FixUQ::gather(UQEvaluation &ev)
{
  const int nlocal = atom->nlocal, nall = nlocal + atom->nghost;
  const tagint *tag = atom->tag;
  owner.clear();
  owner.reserve(2 * nlocal);
  for (int i = 0; i < nlocal; ++i) owner[tag[i]] = i;
  for (int i = 0; i < nall; ++i) {
    if (i < nlocal) {
      image_of[i] = i;
    } else {
      auto it = owner.find(tag[i]);
      image_of[i] = it == owner.end() ? -1 : it->second;
    }
  }
  ev.x = nall ? atom->x[0] : nullptr;
  ev.type = atom->type;
  ev.image_of = image_of;
  ev.nlocal = nlocal;
  ev.nall = nall;
  ev.step = update->ntimestep;
  ev.exchanger = this;
}

/* ----------------------------------------------------------------------
   step 2: the evaluator; any failure on any rank becomes one error everywhere
------------------------------------------------------------------------- */

void FixUQ::evaluate(UQEvaluation &ev)
{
  exchange_phase = 0;
  peer_failed = false;
  comm_nall = ev.nall;
  std::string err = bridge->evaluate(ev);
  std::string context = fmt::format("evaluating step {}", update->ntimestep);
  if (peer_failed) fail_all(context, err, false);
  if (!sync(err.empty(), 0)) fail_all(context, err, !err.empty());
}

/* ----------------------------------------------------------------------
   collective check point: true if every rank is fine and at the same phase;
   the time spent in it is this rank waiting for slower ranks
------------------------------------------------------------------------- */

bool FixUQ::sync(bool ok, int phase)
{
  int in[3] = {ok ? 1 : 0, phase, -phase}, out[3];
  const double start = platform::walltime();
  MPI_Allreduce(in, out, 3, MPI_INT, MPI_MIN, world);
  wait_seconds += platform::walltime() - start;
  return out[0] == 1 && out[1] == -out[2];
}

/* ----------------------------------------------------------------------
   every rank calls this after a failed sync(): the lowest failing rank's
   message is sent to all, and all stop with the same error
------------------------------------------------------------------------- */

void FixUQ::fail_all(const std::string &context, const std::string &message, bool origin)
{
  int mine = origin ? comm->me : comm->nprocs, root;
  MPI_Allreduce(&mine, &root, 1, MPI_INT, MPI_MIN, world);
  if (root == comm->nprocs)
    UQ_ERROR_ALL(UQ_NOLASTLINE,
                 "Fix uq {} {}: the evaluator called exchange.forward/"
                 "reverse a different number of times on different MPI ranks",
                 id, context);
  const std::string text = broadcast_message(message, root);
  UQ_ERROR_ALL(UQ_NOLASTLINE, "Fix uq {} failed {} on MPI rank {}: {}", id, context, root, text);
  UQ_UNREACHABLE();    // Error::all is not [[noreturn]] before the 2025 line
}

// the message of rank `root`, on every rank
std::string FixUQ::broadcast_message(const std::string &message, int root)
{
  int len = comm->me == root ? (int) message.size() : 0;
  MPI_Bcast(&len, 1, MPI_INT, root, world);
  std::string text(len, ' ');
  if (comm->me == root) text = message;
  MPI_Bcast(text.data(), len, MPI_CHAR, root, world);
  return text;
}

/* ----------------------------------------------------------------------
   file work is done on rank 0; every rank stops with its error, so the
   message reaches the screen and the log whatever the rank count
------------------------------------------------------------------------- */

void FixUQ::stop_if_failed(const std::string &err_on_rank0)
{
  const std::string text = broadcast_message(comm->me == 0 ? err_on_rank0 : "", 0);
  if (!text.empty()) UQ_ERROR_ALL(UQ_NOLASTLINE, "Fix uq {} {}", id, text);
}

/* ----------------------------------------------------------------------
   exchange offered to the evaluator (called from Python, must not throw)
------------------------------------------------------------------------- */

std::string FixUQ::exchange(double *data, int width, bool reverse)
{
  if (peer_failed) return "fix uq exchange refused: another MPI rank failed in this evaluation";
  const int limit = reverse ? comm_reverse : comm_forward;
  if (width < 1 || width > limit)
    return fmt::format("fix uq exchange: array width {} is outside 1..{} (the evaluator's "
                       "max_exchange_width sets the limit)",
                       width, limit);
  if (!sync(true, ++exchange_phase)) {
    peer_failed = true;
    return "fix uq exchange aborted: another MPI rank failed in this evaluation";
  }
  comm_rows(data, 1, width, reverse);
  return "";
}

/* ----------------------------------------------------------------------
   forward (owned -> ghost copies) or reverse (ghost rows summed into owners)
------------------------------------------------------------------------- */

void FixUQ::comm_rows(double *data, int blocks, int width, bool reverse)
{
  comm_data = data;
  comm_blocks = blocks;
  comm_width = width;
  if (reverse)
    uq_compat::reverse_comm(comm, this, blocks * width);
  else
    uq_compat::forward_comm(comm, this, blocks * width);
}

int FixUQ::pack_forward_comm(int n, int *list, double *buf, int /*pbc_flag*/, int * /*pbc*/)
{
  int m = 0;
  for (int i = 0; i < n; ++i)
    for (int b = 0; b < comm_blocks; ++b) {
      const double *row = comm_data + ((bigint) b * comm_nall + list[i]) * comm_width;
      for (int k = 0; k < comm_width; ++k) buf[m++] = row[k];
    }
  return m;
}

void FixUQ::unpack_forward_comm(int n, int first, double *buf)
{
  int m = 0;
  for (int i = first; i < first + n; ++i)
    for (int b = 0; b < comm_blocks; ++b) {
      double *row = comm_data + ((bigint) b * comm_nall + i) * comm_width;
      for (int k = 0; k < comm_width; ++k) row[k] = buf[m++];
    }
}

int FixUQ::pack_reverse_comm(int n, int first, double *buf)
{
  int m = 0;
  for (int i = first; i < first + n; ++i)
    for (int b = 0; b < comm_blocks; ++b) {
      const double *row = comm_data + ((bigint) b * comm_nall + i) * comm_width;
      for (int k = 0; k < comm_width; ++k) buf[m++] = row[k];
    }
  return m;
}

void FixUQ::unpack_reverse_comm(int n, int *list, double *buf)
{
  int m = 0;
  for (int i = 0; i < n; ++i)
    for (int b = 0; b < comm_blocks; ++b) {
      double *row = comm_data + ((bigint) b * comm_nall + list[i]) * comm_width;
      for (int k = 0; k < comm_width; ++k) row[k] += buf[m++];
    }
}

/* ----------------------------------------------------------------------
   non-finite forces or energies: an error naming the step and atom ids
------------------------------------------------------------------------- */

void FixUQ::check_finite(const UQEvaluation &ev)
{
  const int nm = rows_of(ev), nlocal = atom->nlocal;
  tagint bad[MAX_BAD_IDS];
  int nbad = 0, ebad = 0;
  for (int l = 0; l < nm; ++l)
    if (!std::isfinite(ev.energies[l])) ebad = 1;
  for (int i = 0; i < nlocal; ++i) {
    bool finite = true;
    for (int l = 0; l < nm; ++l) {
      const double *f = ev.forces + ((bigint) l * ev.nall + i) * 3;
      finite = finite && std::isfinite(f[0]) && std::isfinite(f[1]) && std::isfinite(f[2]);
    }
    if (!finite && nbad < MAX_BAD_IDS) bad[nbad] = atom->tag[i];
    if (!finite) ++nbad;
  }
  int local[2] = {nbad, ebad}, total[2];
  MPI_Allreduce(local, total, 2, MPI_INT, MPI_SUM, world);
  if (total[0] == 0 && total[1] == 0) return;

  for (int k = std::min(nbad, MAX_BAD_IDS); k < MAX_BAD_IDS; ++k) bad[k] = 0;
  std::vector<tagint> all((size_t) MAX_BAD_IDS * comm->nprocs);
  MPI_Allgather(bad, MAX_BAD_IDS, MPI_LMP_TAGINT, all.data(), MAX_BAD_IDS, MPI_LMP_TAGINT, world);
  std::string ids;
  for (tagint t : all)
    if (t) ids += (ids.empty() ? "" : " ") + std::to_string(t);
  UQ_ERROR_ALL(UQ_NOLASTLINE,
               "Fix uq {}: evaluator {} returned non-finite {} at step {}: "
               "{} atom(s) with NaN/inf forces, atom ids {}",
               id, info.name, total[1] ? "energies and/or forces" : "forces", update->ntimestep,
               total[0], ids.empty() ? "(none; energies only)" : ids);
}
