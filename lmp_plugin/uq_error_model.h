/* -*- c++ -*- ----------------------------------------------------------
   lammps-uq: the calibrated error model of fix uq ... alpha auto (issue 16).

   expected local error  e(s) = a * s^b           (s: s_loc, eV/Angstrom)
   conformal upper bound u(s) = bound_factor * e(s)

   a, b, bound_factor and s_max (the largest s_loc of the calibration) come
   from the committee's calibration.json, read by the Python side
   (lammps_uq.science.error_model.model_at).  A number after alpha, or a
   calibration without an error model, is a = alpha, b = 1, no bound.
   Python twin: lammps_uq.science.error_model.predict / bound.
------------------------------------------------------------------------- */

#ifndef LMP_UQ_ERROR_MODEL_H
#define LMP_UQ_ERROR_MODEL_H

#include <cmath>

namespace LAMMPS_NS {

struct UQErrorModel {
  double a = 0.0;               // scale (eV/Angstrom)^(1-b); 0: none
  double b = 1.0;               // exponent
  double bound_factor = 0.0;    // c_q of the conformal bound; 0: no bound
  double s_max = 0.0;           // largest s_loc seen in the calibration; 0: unknown

  double estimate(double s) const { return b == 1.0 ? a * s : a * std::pow(s, b); }
  double bound(double s) const { return bound_factor * estimate(s); }
  bool extrapolates(double s) const { return s_max > 0.0 && s > s_max; }
};

}    // namespace LAMMPS_NS

#endif
