/* -*- c++ -*- ----------------------------------------------------------
   lammps-uq: fix uq/energy, created by `fix ID ... uq ... drive mean|model K` as
   ID_energy.  Its scalar is the driving potential energy (committee mean or
   member K), counted in
   the potential energy after `fix_modify ID energy yes`.  Not for direct use.
------------------------------------------------------------------------- */

#ifndef LMP_FIX_UQ_ENERGY_H
#define LMP_FIX_UQ_ENERGY_H

#include "fix.h"

#include <string>

namespace LAMMPS_NS {

class FixUQEnergy : public Fix {
 public:
  FixUQEnergy(class LAMMPS *, int, char **);
  int setmask() override { return 0; }
  void init() override;
  double compute_scalar() override;

 private:
  std::string parent_id;    // the fix uq that drives the atoms, looked up at every use
  class FixUQ *parent() const;
};

}    // namespace LAMMPS_NS

#endif
