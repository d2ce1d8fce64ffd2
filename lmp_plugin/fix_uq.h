/* -*- c++ -*- ----------------------------------------------------------
   lammps-uq: fix uq, spatially resolved committee force uncertainties.

   Every N steps: gather local + ghost atoms, call a Python committee
   evaluator, sum ghost forces into their owners (reverse comm), compute the
   atomic uncertainty s_j (unbiased std, averaged over x, y, z), send it to
   the ghosts (forward comm), average it within rcut (local uncertainty) and
   reduce the global values.  The pure-numpy twin of every number is
   python/lammps_uq/science/uncertainty.py.  Design: docs/design.md, "The
   quantities", "One check step under MPI" and "Selection and output".
------------------------------------------------------------------------- */

#ifndef LMP_FIX_UQ_H
#define LMP_FIX_UQ_H

#include "fix.h"
#include "uq_bins.h"
#include "uq_bridge.h"
#include "uq_compat.h"

#include <string>
#include <unordered_map>
#include <vector>

namespace LAMMPS_NS {

// centre selection and output settings (docs/design.md, "Selection and output")
struct UQSelection {
  double threshold = 0.0;     // > 0: select; on s_loc, or on the estimate e(s_loc) if on_error
  bool on_error = false;      // error_threshold given instead of threshold
  int max_centres = 4;        // per check
  double separation = 0.0;    // Angstrom; 0 until parsed: then 2 * rcut
  bigint cooldown = 0;        // steps a chosen centre blocks its neighbourhood
  double region = 0.0;        // Angstrom radius of the snapshots (0: none)
  std::string region_file;    // extxyz of the snapshots
  std::string devi_file;      // DeePMD model_devi.out
  bool carve = false;         // carve each region at once (the Python side does it)
};

class FixUQ : public Fix, public UQExchanger {
 public:
  FixUQ(class LAMMPS *, int, char **);
  ~FixUQ() UQ_FIX_DTOR_NOEXCEPT override;
  int setmask() override;
  void init() override;
  void setup(int) override;
  void end_of_step() override;
  void post_force(int) override;
  void min_setup(int) override;
  void min_post_force(int) override;
  void post_constructor() override;
  void post_run() override;
  void write_restart(FILE *) override;
  void restart(char *) override;

  double compute_scalar() override;
  double compute_vector(int) override;
  double memory_usage() override;

  // fix_uq_check.cpp: the ghost exchanges, LAMMPS' and the evaluator's (UQExchanger)
  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;
  std::string exchange(double *data, int width, bool reverse) override;

  static constexpr int NVECTOR = 11;    // length of the global vector (appended only)
  static constexpr int NPERATOM = 4;    // per-atom columns (appended, never reordered)
  double drive_energy = 0.0;            // driving potential energy of the last step (LAMMPS units)
  bool drives() const { return drive; }
  std::string drive_words() const;                  // "mean" or "model K" (fix_uq_drive.cpp)
  std::vector<std::string> output_files() const;    // region, devi files (fix_uq_files.cpp)

 private:
  // --- settings from the fix line
  UQEvaluatorSpec spec;             // evaluator words, elements, units, numeric keywords as written
  double rcut = 4.0;                // aggregation radius (Angstrom)
  double alpha = 0.0;               // error = alpha * uncertainty
  bool alpha_set = false;           // alpha given by the user
  bool alpha_auto = false;          // alpha auto: the committee's fitted alpha
  UQErrorModel error_model;         // per-atom error estimate and bound (alpha auto: calibrated)
  bool warned_beyond = false;       // s_loc above the calibration's largest: warned once
  bool drive = false;               // drive mean or drive model K: forces act every step
  int drive_member = -1;            // drive model K: K - 1 (sorted member order); -1: the mean
  double unit_factor = 1.0;         // eV (and eV/Angstrom) to LAMMPS energy (force) units
  std::string energy_id;            // id of the fix uq/energy that reports the drive energy
  bool energy_requested = false;    // fix_modify ID energy yes was given (moved to energy_id)

  UQSelection sel;    // threshold, max_centres, separation, cooldown, region, files

  // --- the evaluator
  UQBridge *bridge = nullptr;    // Python side
  UQEvaluatorInfo info;          // what the evaluator declared

  // --- per-atom storage (nmax rows)
  int nmax_atoms = 0;            // rows allocated
  double **peratom = nullptr;    // output: s_j, s_loc, error estimate e(s_loc), bound (NPERATOM)
  double *s_atom = nullptr;      // s_j of local + ghost atoms
  double *s_local = nullptr;     // s_loc of local atoms
  double *sigma = nullptr;       // DeePMD deviation of local atoms
  int *image_of = nullptr;       // owned index each atom images, or -1
  double *extra = nullptr;       // (nmax, 4): s_loc and committee-mean force, also on ghosts
  std::unordered_map<tagint, int> owner;    // owned atom index by atom id (last gather)

  // --- communication state
  double *comm_data = nullptr;    // array being exchanged: comm_blocks x (comm_nall, comm_width)
  int comm_width = 0;             // doubles per atom and block in the current exchange
  int comm_blocks = 1;            // blocks (committee members for forces, else 1)
  int comm_nall = 0;              // rows per block
  int exchange_phase = 0;         // exchanges done in this evaluation (all ranks agree)
  bool peer_failed = false;       // another rank failed during this evaluation

  // --- results
  double vector[NVECTOR] = {};    // global vector (docs/design.md, "Selection and output")
  double devi_virial[3] = {};     // DeePMD virial deviation max/min/avg per atom (eV), last check

  // --- drive: virial and pressure control (fix_uq_drive.cpp)
  std::string barostat;           // "fix ID (style)" controlling the pressure this run, "" if none
  bool virial_checked = false;    // this run's first drive evaluation checked for virials

  // --- selection state (kept in restart files)
  bigint ncentres_total = 0;      // centres selected so far
  std::vector<double> recent;     // (step, x, y, z) of centres chosen within the cooldown
  bigint last_selected = -1;      // step of the last selection and file output, -1 if none
  long long region_bytes = -1;    // size of the region file after the last write, -1: not started
  long long devi_bytes = -1;      // size of the devi file after the last write, -1: not started
  bool restored = false;          // state came from a restart file: trim the files at setup
  bigint last_check_step = -1;    // step of the last statistics (rerun: setup, end_of_step meet)
  bool run_begun = false;         // setup() of this run/minimize/rerun has started the outputs

  // --- timing (seconds, this rank)
  enum { T_GATHER, T_EVALUATE, T_COMM, T_AGGREGATE, T_SELECT, T_OUTPUT, NTIMER };
  double timers[NTIMER] = {};
  double run_start = 0.0;       // walltime at setup
  int nchecks = 0;              // checks (statistics) done in this run
  int nevals = 0;               // evaluator calls in this run
  double wait_seconds = 0.0;    // this rank's time in collective check points (waiting)

  // --- binned neighbour search (reused between checks)
  UQBins bins;

  // fix_uq_args.cpp: the fix line
  void parse_fix_line(int, char **);
  void parse_keywords(int, char **, int);
  std::string word(int, char **, int);
  void setting(int, char **, int);
  void apply_settings(const UQSettings &);
  void check_selection_settings();

  // fix_uq.cpp: construction, the checks before a run, storage
  void create_evaluator();
  void choose_alpha();
  void declare_outputs();
  void check_integrator();
  void check_ghost_cutoff();
  void check_region_size();
  void begin_run();
  void grow_storage();
  void free_storage();

  // fix_uq_check.cpp: one check step; a failure on any rank stops every rank
  void check(bool statistics, bool drive_forces, int vflag = 0);
  int rows_of(const UQEvaluation &ev) const { return ev.member < 0 ? info.n_models : 1; }
  double mean_force(const UQEvaluation &, int i, int k) const;
  void gather(UQEvaluation &);
  void evaluate(UQEvaluation &);
  bool sync(bool ok, int phase);
  [[noreturn]] void fail_all(const std::string &context, const std::string &message, bool origin);
  std::string broadcast_message(const std::string &message, int root);
  void stop_if_failed(const std::string &err_on_rank0);
  void comm_rows(double *data, int blocks, int width, bool reverse);
  void check_finite(const UQEvaluation &);

  // fix_uq_stats.cpp: s_j, local aggregation, global reductions, the error model
  void atomic_statistics(const UQEvaluation &);
  void aggregate();
  void reduce_globals(const UQEvaluation &);
  void set_error_model();
  void warn_beyond_calibration(double max_s_local);

  // fix_uq_drive.cpp: drive mean | model K, virial and pressure control
  void parse_drive(int narg, char **arg, int &iarg);
  void check_drive_member();
  std::string pressure_control() const;
  void apply_drive(const UQEvaluation &, int vflag);
  void add_virial(const UQEvaluation &, int first, int count);
  void check_virial_given(const UQEvaluation &);
  void virial_deviation(const UQEvaluation &);

  // fix_uq_select.cpp: centre selection and region snapshots
  void select_and_write(const UQEvaluation &);
  void share_local_values(const UQEvaluation &);
  std::vector<double> find_candidates();
  std::vector<double> choose_centres(const std::vector<double> &);
  bool near_any(const double *p, const std::vector<double> &rows, int width, int offset);
  void write_regions(const std::vector<double> &chosen);
  std::string region_info(tagint centre, double centre_s_local);

  // fix_uq_files.cpp: every output path checked and started before step 0
  void setup_files();
  std::string start_file(const std::string &path, const char *what, long long &bytes,
                         const std::string &header);
  std::string write_devi();
};

}    // namespace LAMMPS_NS

#endif
