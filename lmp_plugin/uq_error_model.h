/* -*- c++ -*- ----------------------------------------------------------
   lammps-uq: the calibrated error model of fix uq ... alpha auto (issues 16, 23).

   One calibrated curve (a radius of the calibration), with s = s_loc (eV/Angstrom):
   expected local error  e(s) = alpha * s                      for s <= knee (or knee = 0)
                         e(s) = alpha * knee * (s / knee)^b    for knee < s <= s_max
                         e(s) = e(s_max) * s / s_max           for s > s_max (> 0): linear
   conformal upper bound u(s) = bound_factor * e(s)       for s <= bound_split (or split 0)
                         u(s) = bound_factor_high * e(s)  for s > bound_split

   At an rcut between two calibrated radii the model blends the two curves'
   predictions, (1 - t) lower + t upper (never the parameters one by one), so e
   and u stay continuous and monotone in s.  The numbers come from the
   committee's calibration.json, read by the Python side
   (lammps_uq.science.error_model.model_at / as_parameters).  A number after
   alpha, or a calibration without an error model: knee 0, no bound.
   Python twin: lammps_uq.science.error_model.predict / bound / extrapolates.
------------------------------------------------------------------------- */

#ifndef LMP_UQ_ERROR_MODEL_H
#define LMP_UQ_ERROR_MODEL_H

#include <cmath>

namespace LAMMPS_NS {

struct UQErrorCurve {
  double alpha = 0.0;                // Eq. 3 factor up to the knee; 0: none
  double knee = 0.0;                 // s_loc where the power law starts; 0: none
  double b = 1.0;                    // exponent beyond the knee
  double bound_factor = 0.0;         // c_q of the conformal bound; 0: no bound
  double bound_split = 0.0;          // s_loc above which bound_factor_high applies; 0: none
  double bound_factor_high = 0.0;    // c_q of the calibration's top s_loc decile
  double s_max = 0.0;                // largest s_loc of the fit; linear beyond; 0: unknown

  double law(double s) const
  {
    return (knee > 0.0 && s > knee) ? alpha * knee * std::pow(s / knee, b) : alpha * s;
  }
  double estimate(double s) const
  {
    return (s_max > 0.0 && s > s_max) ? law(s_max) * s / s_max : law(s);
  }
  double bound(double s) const
  {
    return (bound_split > 0.0 && s > bound_split ? bound_factor_high : bound_factor) * estimate(s);
  }
};

struct UQErrorModel {
  double t = 0.0;    // blend weight of the upper radius' curve; 0: the lower curve alone
  UQErrorCurve lower, upper;
  double alpha = 0.0;    // blended alpha (f_ID[10])
  double s_max = 0.0;    // blended s_max: beyond it the estimate is extrapolated

  static UQErrorModel constant(double alpha)
  {
    UQErrorModel model;
    model.lower.alpha = model.upper.alpha = model.alpha = alpha;
    return model;
  }
  // after t, lower and upper are set
  void finish()
  {
    alpha = (1.0 - t) * lower.alpha + t * upper.alpha;
    s_max = (1.0 - t) * lower.s_max + t * upper.s_max;
  }
  double estimate(double s) const
  {
    return t > 0.0 ? (1.0 - t) * lower.estimate(s) + t * upper.estimate(s) : lower.estimate(s);
  }
  double bound(double s) const
  {
    return t > 0.0 ? (1.0 - t) * lower.bound(s) + t * upper.bound(s) : lower.bound(s);
  }
  bool extrapolates(double s) const { return s_max > 0.0 && s > s_max; }
};

}    // namespace LAMMPS_NS

#endif
