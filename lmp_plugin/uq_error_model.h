/* -*- c++ -*- ----------------------------------------------------------
   lammps-uq: the calibrated error model of fix uq ... alpha auto (issue 16).

   expected local error  e(s) = alpha * s                    for s <= knee (or knee = 0)
                         e(s) = alpha * knee * (s / knee)^b  for s > knee
   conformal upper bound u(s) = bound_factor * e(s)       for s <= bound_split (or split 0)
                         u(s) = bound_factor_high * e(s)  for s > bound_split

   with s = s_loc (eV/Angstrom).  The parameters and s_max (the largest s_loc
   of the calibration) come from the committee's calibration.json, read by
   the Python side (lammps_uq.science.error_model.model_at).  A number after
   alpha, or a calibration without an error model: knee 0, no bound.
   Python twin: lammps_uq.science.error_model.predict / bound.
------------------------------------------------------------------------- */

#ifndef LMP_UQ_ERROR_MODEL_H
#define LMP_UQ_ERROR_MODEL_H

#include <cmath>

namespace LAMMPS_NS {

struct UQErrorModel {
  double alpha = 0.0;           // Eq. 3 factor up to the knee; 0: none
  double knee = 0.0;            // s_loc where the power law starts; 0: none
  double b = 1.0;               // exponent beyond the knee
  double bound_factor = 0.0;    // c_q of the conformal bound; 0: no bound
  double bound_split = 0.0;     // s_loc above which bound_factor_high applies; 0: none
  double bound_factor_high = 0.0;    // c_q of the calibration's top s_loc decile
  double s_max = 0.0;           // largest s_loc seen in the calibration; 0: unknown

  double estimate(double s) const
  {
    return (knee > 0.0 && s > knee) ? alpha * knee * std::pow(s / knee, b) : alpha * s;
  }
  double bound(double s) const
  {
    return (bound_split > 0.0 && s > bound_split ? bound_factor_high : bound_factor) * estimate(s);
  }
  bool extrapolates(double s) const { return s_max > 0.0 && s > s_max; }
};

}    // namespace LAMMPS_NS

#endif
