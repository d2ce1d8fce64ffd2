/* -*- c++ -*- ----------------------------------------------------------
   lammps-uq: a binned search over local + ghost atoms (Cartesian), used for
   the local aggregation, the local-maximum test of centre selection and the
   region snapshots.  Results do not depend on the processor grid because
   ghost atoms are explicit periodic images.
------------------------------------------------------------------------- */

#ifndef LMP_UQ_BINS_H
#define LMP_UQ_BINS_H

#include <algorithm>
#include <vector>

namespace LAMMPS_NS {

class UQBins {
 public:
  // bins at least `width` wide over the bounding box of x[0..n-1], at most ~2n bins
  void build(double **x, int n, double width)
  {
    if (n == 0) return;
    for (int k = 0; k < 3; ++k) lo[k] = hi[k] = x[0][k];
    for (int i = 1; i < n; ++i)
      for (int k = 0; k < 3; ++k) {
        lo[k] = std::min(lo[k], x[i][k]);
        hi[k] = std::max(hi[k], x[i][k]);
      }
    for (;;) {
      for (int k = 0; k < 3; ++k) nb[k] = std::max(1, (int) ((hi[k] - lo[k]) / width));
      if ((double) nb[0] * nb[1] * nb[2] <= 2.0 * n + 27) break;
      width *= 1.5;
    }
    for (int k = 0; k < 3; ++k) span[k] = hi[k] > lo[k] ? hi[k] - lo[k] : 1.0;
    const int nbins = nb[0] * nb[1] * nb[2];
    start.assign(nbins + 1, 0);
    atoms.resize(n);
    bin_of.resize(n);
    for (int i = 0; i < n; ++i) {
      bin_of[i] = flat(x[i]);
      ++start[bin_of[i] + 1];
    }
    for (int b = 0; b < nbins; ++b) start[b + 1] += start[b];
    std::vector<int> fill(start.begin(), start.end() - 1);
    for (int i = 0; i < n; ++i) atoms[fill[bin_of[i]]++] = i;
  }

  // calls f(j, r2) for every atom j with |x_j - p|^2 <= cut^2 (cut <= the build width)
  template <typename F> void visit(double **x, const double *p, double cut, F f) const
  {
    int b[3];
    index(p, b);
    const double cut2 = cut * cut;
    for (int cz = std::max(0, b[2] - 1); cz <= std::min(nb[2] - 1, b[2] + 1); ++cz)
      for (int cy = std::max(0, b[1] - 1); cy <= std::min(nb[1] - 1, b[1] + 1); ++cy)
        for (int cx = std::max(0, b[0] - 1); cx <= std::min(nb[0] - 1, b[0] + 1); ++cx) {
          const int c = (cz * nb[1] + cy) * nb[0] + cx;
          for (int m = start[c]; m < start[c + 1]; ++m) {
            const int j = atoms[m];
            const double dx = x[j][0] - p[0], dy = x[j][1] - p[1], dz = x[j][2] - p[2];
            const double r2 = dx * dx + dy * dy + dz * dz;
            if (r2 <= cut2) f(j, r2);
          }
        }
  }

 private:
  double lo[3], hi[3], span[3];
  int nb[3];
  std::vector<int> start, atoms, bin_of;

  void index(const double *p, int *b) const
  {
    for (int k = 0; k < 3; ++k)
      b[k] = std::min(nb[k] - 1, std::max(0, (int) ((p[k] - lo[k]) / span[k] * nb[k])));
  }
  int flat(const double *p) const
  {
    int b[3];
    index(p, b);
    return (b[2] * nb[1] + b[1]) * nb[0] + b[0];
  }
};

}    // namespace LAMMPS_NS

#endif
