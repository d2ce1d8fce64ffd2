/* ----------------------------------------------------------------------
   lammps-uq: fix uq, construction, schedule, restart and timing.
   The fix line is read in fix_uq_args.cpp; the check itself (gather,
   evaluate, comm) is fix_uq_check.cpp, its statistics fix_uq_stats.cpp.
------------------------------------------------------------------------- */

#include "fix_uq.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "group.h"
#include "memory.h"
#include "modify.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"

#include <algorithm>
#include <cmath>

using namespace LAMMPS_NS;
using namespace FixConst;

namespace {
constexpr double PI = 3.14159265358979323846;
}    // namespace

/* ---------------------------------------------------------------------- */

FixUQ::FixUQ(LAMMPS *lmp, int narg, char **arg) : Fix(lmp, narg, arg)
{
  parse_fix_line(narg, arg);
  create_evaluator();
  check_drive_member();
  check_selection_settings();
  choose_alpha();
  set_error_model();
  declare_outputs();
  grow_storage();
}

/* ----------------------------------------------------------------------
   every rank builds its evaluator; the Python side parses the numeric
   keywords (lammps_uq.science.settings, their one parser and checker) and
   any failure on any rank stops every rank with one message
------------------------------------------------------------------------- */

void FixUQ::create_evaluator()
{
  std::string err;
  if (sel.carve) {    // the consumer of the region file is started by rank 0 (lammps_uq.fix.insitu)
    spec.options.emplace_back("carve_file", sel.region_file);
    spec.options.emplace_back("carve_rank0", comm->me == 0 ? "1" : "0");
  }
  UQSettings parsed;
  bridge = uq_load_bridge(err);
  if (bridge) err = bridge->create(spec, parsed);
  if (!sync(err.empty(), 0)) fail_all("setting up the evaluator", err, !err.empty());
  apply_settings(parsed);
  err = bridge->describe(rcut, info);    // the fitted alpha and error model depend on rcut
  if (!sync(err.empty(), 0)) fail_all("setting up the evaluator", err, !err.empty());
  if ((int) info.numbers.size() != atom->ntypes + 1)
    error->all(FLERR, "Fix uq: evaluator returned {} atomic numbers for {} atom types",
               info.numbers.size() - 1, atom->ntypes);
}

// alpha: the number given, the committee's fitted alpha (alpha auto), else the Gaussian
// value 2 / sqrt(2 pi N_C)
void FixUQ::choose_alpha()
{
  if (!alpha_set) alpha = 2.0 / std::sqrt(2.0 * PI * info.n_models);
  if (alpha_auto) {
    if (!(info.alpha > 0.0))
      error->all(FLERR,
                 "Fix uq alpha auto: committee {} records no fitted alpha; expected a "
                 "calibration.json next to its models (made by lammps-uq calibrate) or a number "
                 "after alpha",
                 info.name);
    alpha = info.alpha;
  }
  vector[9] = alpha;
}

// what this fix offers LAMMPS: global scalar and vector, per-atom array, restart, energy, virial
void FixUQ::declare_outputs()
{
  restart_global = 1;
  scalar_flag = vector_flag = 1;
  size_vector = NVECTOR;
  extscalar = extvector = 0;
  global_freq = nevery;
  peratom_flag = 1;
  size_peratom_cols = NPERATOM;
  peratom_freq = nevery;
  energy_global_flag = drive ? 1 : 0;    // fix_modify ID energy yes, handed to ID_energy
  // the driving forces' virial counts in the pressure by default, as a pair style's does
  // (fix_modify ID virial no leaves it out)
  virial_global_flag = thermo_virial = drive ? 1 : 0;
  comm_forward = std::max(1, info.max_exchange_width);
  comm_reverse = std::max(3 * info.n_models, info.max_exchange_width);
}

/* ---------------------------------------------------------------------- */

FixUQ::~FixUQ() UQ_FIX_DTOR_NOEXCEPT
{
  delete bridge;
  free_storage();
}

void FixUQ::free_storage()
{
  memory->destroy(peratom);
  memory->destroy(s_atom);
  memory->destroy(s_local);
  memory->destroy(sigma);
  memory->destroy(image_of);
  memory->destroy(extra);
}

/* ---------------------------------------------------------------------- */

int FixUQ::setmask()
{
  // minimize: forces (drive) and checks every N iterations come through min_post_force
  return (drive ? POST_FORCE : END_OF_STEP) | MIN_POST_FORCE;
}

/* ----------------------------------------------------------------------
   drive: a companion fix (style uq/energy) reports the driving energy,
   so f_ID keeps its meaning (max s_loc) for fix halt and thermo
------------------------------------------------------------------------- */

void FixUQ::post_constructor()
{
  if (!drive) return;
  energy_id = std::string(id) + "_energy";
  modify->add_fix(fmt::format("{} {} uq/energy {}", energy_id, group->names[igroup], id));
}

/* ---------------------------------------------------------------------- */

void FixUQ::init()
{
  if (!atom->tag_enable) UQ_ERROR_ALL(UQ_NOLASTLINE, "Fix uq requires atom IDs");
  if (!drive) return;
  barostat = pressure_control();
  virial_checked = false;
  check_integrator();
  // the energy contribution is reported by ID_energy, not by this fix's scalar
  if (thermo_energy) energy_requested = true;
  thermo_energy = 0;
  Fix *energy = uq_compat::fix_by_id(modify, energy_id);
  if (!energy)
    UQ_ERROR_ALL(UQ_NOLASTLINE,
                 "Fix uq {} drive {} reports its energy through fix {}, "
                 "which was deleted; define fix {} again",
                 id, drive_words(), energy_id, id);
  energy->thermo_energy = energy_requested ? 1 : 0;
  if (update->whichflag == 2 && !energy_requested)
    UQ_ERROR_ALL(UQ_NOLASTLINE,
                 "Fix uq {} drive {} under minimize: add 'fix_modify {} "
                 "energy yes' so the minimizer sees the driving energy with the driving forces",
                 id, drive_words(), id);
}

/* ----------------------------------------------------------------------
   drive acts at the outermost level only: refuse r-RESPA, whose inner
   levels would integrate without the committee forces
------------------------------------------------------------------------- */

void FixUQ::check_integrator()
{
  if (update->whichflag == 1 && utils::strmatch(update->integrate_style, "^respa"))
    UQ_ERROR_ALL(UQ_NOLASTLINE,
                 "Fix uq {} drive {} does not support run_style {}; use "
                 "run_style verlet (drive applies the committee forces every step)",
                 id, drive_words(), update->integrate_style);
}

/* ----------------------------------------------------------------------
   ghost atoms must reach every atom the evaluator and the aggregation need,
   plus the skin that atoms may move between reneighborings
------------------------------------------------------------------------- */

void FixUQ::check_ghost_cutoff()
{
  double need = std::max(info.ghost_cutoff, rcut);
  if (sel.threshold > 0.0) need = std::max({need, sel.separation, sel.region});
  need += neighbor->skin;
  const double have = std::max(comm->cutghostuser, neighbor->cutneighmax);
  if (have < need * (1.0 - 1e-12))
    UQ_ERROR_ALL(UQ_NOLASTLINE,
                 "Fix uq needs ghost atoms within {:.6g} Angstrom (evaluator {} needs {:.6g}, rcut "
                 "{:.6g}, separation {:.6g}, region {:.6g}, neighbor skin {:.6g}) but the ghost "
                 "cutoff is {:.6g}; add the line 'comm_modify cutoff {:.6g}' before the run",
                 need, info.name, info.ghost_cutoff, rcut,
                 sel.threshold > 0.0 ? sel.separation : 0.0, sel.region, neighbor->skin, have,
                 need);
}

/* ----------------------------------------------------------------------
   a region must see each atom once: below half of every periodic width, at
   setup and at every check (a barostat, fix deform or change_box can shrink
   the box); a 2d box has no z width to respect
------------------------------------------------------------------------- */

void FixUQ::check_region_size()
{
  if (sel.region <= 0.0) return;
  const double *h = domain->h;    // a = (h0,0,0), b = (h5,h1,0), c = (h4,h3,h2)
  const double volume = h[0] * h[1] * h[2];
  const double width[3] = {volume /
                               std::sqrt(h[1] * h[1] * h[2] * h[2] + std::pow(h[5] * h[2], 2) +
                                         std::pow(h[5] * h[3] - h[1] * h[4], 2)),
                           volume / std::sqrt(h[0] * h[0] * (h[2] * h[2] + h[3] * h[3])), h[2]};
  for (int k = 0; k < domain->dimension; ++k)
    if (domain->periodicity[k] && sel.region >= 0.5 * width[k])
      UQ_ERROR_ALL(UQ_NOLASTLINE,
                   "Fix uq region {} Angstrom must be below half the "
                   "periodic box width {:.6g} Angstrom (direction {}{}), so each atom appears once "
                   "in a snapshot",
                   sel.region, width[k], "xyz"[k],
                   run_begun ? fmt::format(", at step {}", update->ntimestep) : std::string());
}

/* ---------------------------------------------------------------------- */

void FixUQ::setup(int vflag)
{
  check_ghost_cutoff();
  check_region_size();
  if (!run_begun) begin_run();
  if (drive)
    post_force(vflag);
  else if (update->ntimestep % nevery == 0)
    check(true, false);
}

// once per run, minimize or rerun (rerun calls init() and setup() again for every frame);
// post_run() ends it
void FixUQ::begin_run()
{
  setup_files();
  for (auto &t : timers) t = 0.0;
  nchecks = nevals = 0;
  wait_seconds = 0.0;
  run_start = platform::walltime();
  run_begun = true;
}

void FixUQ::min_setup(int vflag)
{
  setup(vflag);
}

/* ----------------------------------------------------------------------
   rerun calls setup() and then end_of_step() for each frame: one check
------------------------------------------------------------------------- */

void FixUQ::end_of_step()
{
  if (update->ntimestep == last_check_step) return;
  check(true, false);
}

/* ----------------------------------------------------------------------
   drive: evaluate every step (model K: member K alone between checks),
   statistics every N steps
------------------------------------------------------------------------- */

void FixUQ::post_force(int vflag)
{
  check(update->ntimestep % nevery == 0, true, vflag);
}

/* ----------------------------------------------------------------------
   minimize: every force evaluation of the minimizer (a line search makes
   several per iteration) gets the driving forces with drive; the
   statistics come at the first evaluation of every N-th iteration
------------------------------------------------------------------------- */

void FixUQ::min_post_force(int vflag)
{
  const bool due = update->ntimestep % nevery == 0 && update->ntimestep != last_check_step;
  if (drive)
    check(due, true, vflag);
  else if (due)
    check(true, false);
}

/* ----------------------------------------------------------------------
   the fix's own time split, slowest rank per part, and its share of the run
------------------------------------------------------------------------- */

void FixUQ::post_run()
{
  // parts averaged over ranks add up to the mean rank's total (a share of its run time)
  double sums[NTIMER + 1], mine[NTIMER + 1], slowest = 0.0, total = 0.0;
  for (int k = 0; k < NTIMER; ++k) total += mine[k] = timers[k];
  mine[NTIMER] = total;
  MPI_Allreduce(mine, sums, NTIMER + 1, MPI_DOUBLE, MPI_SUM, world);
  MPI_Allreduce(&total, &slowest, 1, MPI_DOUBLE, MPI_MAX, world);
  const double n = comm->nprocs, mean = sums[NTIMER] / n;
  const double run = platform::walltime() - run_start;
  if (comm->me == 0)
    utils::logmesg(lmp,
                   "fix uq {}: {} checks ({} evaluations) took {:.4g} s = {:.1f}% of the run "
                   "({:.4g} s), mean over {} ranks: gather {:.4g} evaluate {:.4g} comm {:.4g} "
                   "aggregate {:.4g} select {:.4g} output {:.4g} s; slowest rank {:.4g} s\n",
                   id, nchecks, nevals, mean, run > 0.0 ? 100.0 * mean / run : 0.0, run,
                   comm->nprocs, sums[T_GATHER] / n, sums[T_EVALUATE] / n, sums[T_COMM] / n,
                   sums[T_AGGREGATE] / n, sums[T_SELECT] / n, sums[T_OUTPUT] / n, slowest);
  const std::string inside = bridge->report();
  if (comm->me == 0 && !inside.empty())
    utils::logmesg(lmp, "fix uq {}: evaluator on rank 0: {}; waiting for other ranks {:.4g} s\n",
                   id, inside, wait_seconds);
  const std::string finished = bridge->finish_run();    // in-situ carving: wait for the consumer
  if (comm->me == 0 && !finished.empty()) utils::logmesg(lmp, "{}\n", finished);
  run_begun = false;
}

/* ----------------------------------------------------------------------
   restart files carry the selection state so a continued run appends to the
   same files, keeps counters and cooldowns, and writes no region twice
------------------------------------------------------------------------- */

void FixUQ::write_restart(FILE *fp)
{
  if (comm->me != 0) return;
  std::vector<double> list = {(double) ncentres_total, (double) last_selected,
                              (double) region_bytes, (double) devi_bytes,
                              (double) (recent.size() / 4)};
  list.insert(list.end(), recent.begin(), recent.end());
  int size = (int) (list.size() * sizeof(double));
  fwrite(&size, sizeof(int), 1, fp);
  fwrite(list.data(), sizeof(double), list.size(), fp);
}

void FixUQ::restart(char *buf)
{
  auto *list = (double *) buf;
  ncentres_total = (bigint) list[0];
  last_selected = (bigint) list[1];
  region_bytes = (long long) list[2];
  devi_bytes = (long long) list[3];
  recent.assign(list + 5, list + 5 + 4 * (size_t) list[4]);
  vector[5] = (double) ncentres_total;
  restored = true;
}

/* ---------------------------------------------------------------------- */

void FixUQ::grow_storage()
{
  if (atom->nmax <= nmax_atoms) return;
  nmax_atoms = atom->nmax;
  free_storage();
  memory->create(extra, 4 * nmax_atoms, "uq:extra");
  memory->create(peratom, nmax_atoms, NPERATOM, "uq:peratom");
  memory->create(s_atom, nmax_atoms, "uq:s_atom");
  memory->create(s_local, nmax_atoms, "uq:s_local");
  memory->create(sigma, nmax_atoms, "uq:sigma");
  memory->create(image_of, nmax_atoms, "uq:image_of");
  array_atom = peratom;
  for (int i = 0; i < nmax_atoms; ++i)
    for (int k = 0; k < NPERATOM; ++k) peratom[i][k] = 0.0;
}

/* ---------------------------------------------------------------------- */

double FixUQ::compute_scalar()
{
  return vector[1];
}

double FixUQ::compute_vector(int n)
{
  return vector[n];
}

double FixUQ::memory_usage()
{
  return (double) nmax_atoms * ((NPERATOM + 7) * sizeof(double) + sizeof(int));
}
