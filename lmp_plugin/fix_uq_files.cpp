/* ----------------------------------------------------------------------
   lammps-uq: fix uq output files (region snapshots, DeePMD devi).

   Every output path is checked and started before step 0, on rank 0, and
   any failure stops every rank with the file name and the OS reason:
   - a new fix starts its files empty (as dump does), unless an earlier fix uq
     of the same LAMMPS instance wrote the file (unfix, then fix again): then
     it appends, so nothing written before is lost;
   - a fix continuing its files (a later run, or a restart file's record)
     trims what was written after the record, starts a missing file anew, and
     refuses a file shorter than recorded (it would have to be padded);
   - two fixes writing one file, or one fix writing one file twice, are refused.
   Devi lines are written with write(2) and fsync'd at every check.
------------------------------------------------------------------------- */

#include "fix_uq.h"

#include "comm.h"
#include "modify.h"
#include "update.h"
#include "utils.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

using namespace LAMMPS_NS;

namespace {

// the real folder + the file name; "" and the reason if it cannot be a file path
std::string canonical(const std::string &path, std::string &why)
{
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                                                     : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  char real[PATH_MAX];
  if (name.empty() || name == "." || name == "..") {
    why = "it is a folder; expected a file name";
  } else if (!realpath(dir.c_str(), real)) {
    why = fmt::format("its folder {} cannot be used ({})", dir, strerror(errno));
  } else {
    std::string full = std::string(real) + (std::string(real) == "/" ? "" : "/") + name;
    struct stat st;
    if (stat(full.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      why = "it is a folder; expected a file name";
    else
      return full;
  }
  return "";
}

long long size_of(const std::string &path)
{
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? (long long) st.st_size : -1;
}

// files fix uq has written in this process: (LAMMPS instance, canonical path) -> fix id
std::map<std::pair<const void *, std::string>, std::string> &written()
{
  static std::map<std::pair<const void *, std::string>, std::string> files;
  return files;
}

// writes text at the end (or over the whole file if start) and fsyncs; "" or the OS reason.
// A failed write leaves the file as it was before the call.
std::string write_durably(const std::string &path, const std::string &text, bool start,
                          long long &bytes)
{
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | (start ? O_TRUNC : O_APPEND), 0666);
  if (fd < 0) return strerror(errno);
  const off_t before = lseek(fd, 0, SEEK_END);
  std::string err;
  size_t done = 0;
  while (err.empty() && done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno != EINTR) err = strerror(errno);
    if (n > 0) done += (size_t) n;
  }
  // character devices such as /dev/null cannot be synced (EINVAL): nothing to keep there
  if (err.empty() && fsync(fd) != 0 && errno != EINVAL) err = strerror(errno);
  if (!err.empty() && before >= 0 && ftruncate(fd, before) != 0)
    err += " (and cannot trim it back)";
  const off_t end = lseek(fd, 0, SEEK_END);
  if (close(fd) != 0 && err.empty()) err = strerror(errno);
  if (err.empty()) bytes = end;
  return err;
}

const char *DEVI_HEADER = "#{:>11} {:>19} {:>19} {:>19} {:>19} {:>19} {:>19}\n";

}    // namespace

/* ---------------------------------------------------------------------- */

std::vector<std::string> FixUQ::output_files() const
{
  std::vector<std::string> files;
  for (const auto &path : {sel.region_file, sel.devi_file})
    if (!path.empty()) files.push_back(path);
  return files;
}

/* ----------------------------------------------------------------------
   before step 0 of every run: each output checked, started or continued
------------------------------------------------------------------------- */

void FixUQ::setup_files()
{
  std::string err;
  if (comm->me == 0) {
    std::string why;
    if (!sel.region_file.empty() && !sel.devi_file.empty() &&
        canonical(sel.region_file, why) == canonical(sel.devi_file, why))
      err = fmt::format("writes file {} twice (file and devi); give each its own file",
                        sel.region_file);
    if (err.empty() && !sel.region_file.empty())
      err = start_file(sel.region_file, "region file", region_bytes, "");
    if (err.empty() && !sel.devi_file.empty())
      err = start_file(sel.devi_file, "devi file", devi_bytes,
                       fmt::format(DEVI_HEADER, "step", "max_devi_v", "min_devi_v", "avg_devi_v",
                                   "max_devi_f", "min_devi_f", "avg_devi_f"));
  }
  if (sel.region_file.empty()) region_bytes = -1;
  if (sel.devi_file.empty()) devi_bytes = -1;
  restored = false;
  stop_if_failed(err);
}

/* ----------------------------------------------------------------------
   rank 0: one output file; bytes is its recorded size (-1: none yet)
------------------------------------------------------------------------- */

std::string FixUQ::start_file(const std::string &path, const char *what, long long &bytes,
                              const std::string &header)
{
  std::string why;
  const std::string real = canonical(path, why);
  if (real.empty()) return fmt::format("cannot use {} {}: {}", what, path, why);
  for (Fix *fix : uq_compat::fix_list(modify)) {
    if (fix == this || strcmp(fix->style, "uq") != 0) continue;
    for (const auto &other : static_cast<FixUQ *>(fix)->output_files())
      if (canonical(other, why) == real)
        return fmt::format("{} {} is also written by fix uq {}; give each fix its own files", what,
                           path, fix->id);
  }
  const long long size = size_of(real);
  const auto key = std::make_pair((const void *) lmp, real);
  auto &done = written();
  if (bytes >= 0 && size < 0) {
    utils::logmesg(lmp, "fix uq {}: {} {} not found; starting it anew ({} bytes were recorded)\n",
                   id, what, path, bytes);
    bytes = -1;
  } else if (bytes >= 0 && size < bytes) {
    return fmt::format("cannot continue {} {}: it has {} bytes, fewer than the {} recorded{}; "
                       "restore the file or give a new file name",
                       what, path, size, bytes, restored ? " in the restart file" : "");
  } else if (bytes >= 0 && size > bytes && truncate(real.c_str(), bytes) != 0) {
    return fmt::format("cannot trim {} {} to the {} bytes recorded: {}", what, path, bytes,
                       strerror(errno));
  } else if (bytes < 0 && size >= 0 && done.count(key)) {
    utils::logmesg(lmp, "fix uq {}: appending to {} {}, written by fix uq {} before\n", id, what,
                   path, done[key]);
    bytes = size;
  }
  done[key] = id;
  if (bytes >= 0) return "";
  const std::string err = write_durably(real, header, true, bytes);
  return err.empty() ? "" : fmt::format("cannot start {} {}: {}", what, path, err);
}

/* ----------------------------------------------------------------------
   DeePMD-kit model_devi.out: step, virial max/min/avg per atom (eV; 0 when
   the evaluator returns no virials), force max/min/avg of sigma_j; one line
   per check, fsync'd
------------------------------------------------------------------------- */

std::string FixUQ::write_devi()
{
  const std::string line =
      fmt::format("{:12d} {:19.6e} {:19.6e} {:19.6e} {:19.6e} {:19.6e} {:19.6e}\n",
                  (long long) update->ntimestep, devi_virial[0], devi_virial[1], devi_virial[2],
                  vector[6], vector[7], vector[8]);
  const std::string err = write_durably(sel.devi_file, line, false, devi_bytes);
  return err.empty() ? ""
                     : fmt::format("cannot write devi file {} at step {}: {}", sel.devi_file,
                                   update->ntimestep, err);
}
