/* ----------------------------------------------------------------------
   lammps-uq: the Python side of fix uq (built into _uqbridge.so).

   Starts an interpreter when LAMMPS runs as `lmp`, or attaches to the host
   interpreter when LAMMPS is driven from Python; takes the GIL for every call
   and releases it afterwards.  Arrays cross as memoryviews of LAMMPS memory
   (no copies in) and as buffers of the returned numpy arrays (no copies out).
   Python errors come back as strings: this library never throws into LAMMPS.
------------------------------------------------------------------------- */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "uq_bridge.h"

#include <cstring>
#include <initializer_list>
#include <sys/stat.h>

#ifndef LMP_UQ_PYTHON
#define LMP_UQ_PYTHON ""
#endif

using namespace LAMMPS_NS;

namespace {

bool file_exists(const std::string &path)
{
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string parent(const std::string &path)
{
  auto slash = path.rfind('/');
  return (slash == std::string::npos || slash == 0) ? std::string("/") : path.substr(0, slash);
}

// the interpreter to start inside `lmp`: the virtual environment that holds
// this plugin (<venv>/lib/pythonX.Y/site-packages/lammps_uq/lib), else the
// interpreter the package was built with
std::string python_executable(const std::string &plugin_dir)
{
  const char *env = getenv("LAMMPS_UQ_PYTHON");
  if (env && *env) return env;
  for (std::string dir = plugin_dir; dir != "/"; dir = parent(dir)) {
    if (file_exists(dir + "/pyvenv.cfg") && file_exists(dir + "/bin/python3"))
      return dir + "/bin/python3";
  }
  return LMP_UQ_PYTHON;
}

class GIL {
 public:
  GIL() : state(PyGILState_Ensure()) {}
  ~GIL() { PyGILState_Release(state); }

 private:
  PyGILState_STATE state;
};

// the pending Python exception as one line, "Type: message (file:line)"
std::string fetch_error()
{
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (!type) return "unknown Python error";
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb) PyException_SetTraceback(value, tb);
  std::string text;
  PyObject *mod = PyImport_ImportModule("lammps_uq.fix.bridge");
  PyObject *res = mod ? PyObject_CallMethod(mod, "format_exception", "O", value) : nullptr;
  if (res && PyUnicode_Check(res)) {
    text = PyUnicode_AsUTF8(res);
  } else {
    PyErr_Clear();
    PyObject *str = PyObject_Str(value);
    text = str ? PyUnicode_AsUTF8(str) : "unprintable Python error";
    Py_XDECREF(str);
  }
  Py_XDECREF(res);
  Py_XDECREF(mod);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  return text;
}

PyObject *string_list(const std::vector<std::string> &words)
{
  PyObject *list = PyList_New((Py_ssize_t) words.size());
  for (size_t i = 0; i < words.size(); ++i)
    PyList_SET_ITEM(list, i, PyUnicode_FromString(words[i].c_str()));
  return list;
}

PyObject *string_dict(const std::vector<std::pair<std::string, std::string>> &pairs)
{
  PyObject *dict = PyDict_New();
  for (const auto &kv : pairs) {
    PyObject *value = PyUnicode_FromString(kv.second.c_str());
    PyDict_SetItemString(dict, kv.first.c_str(), value);
    Py_DECREF(value);
  }
  return dict;
}

PyObject *view_of(const void *ptr, size_t nbytes)
{
  return PyMemoryView_FromMemory((char *) ptr, (Py_ssize_t) nbytes, PyBUF_READ);
}

class PythonBridge : public UQBridge {
 public:
  // needs the GIL: makes the capsule through which the exchanges find this bridge
  PythonBridge() : capsule(PyCapsule_New(this, "lammps_uq.bridge", nullptr)) {}
  ~PythonBridge() override;
  std::string create(const UQEvaluatorSpec &spec, UQSettings &parsed) override;
  std::string describe(double rcut, UQEvaluatorInfo &info) override;
  std::string evaluate(UQEvaluation &ev) override;
  void release_outputs() override;
  std::string report() override;
  std::string finish_run() override;
  std::string write_region(const std::string &path, const double *rows, int nrows,
                           const std::string &info_json, long long &bytes) override;

  UQEvaluation *current = nullptr;    // the evaluation in progress (exchanges need it)

 private:
  PyObject *capsule;                   // holds `this` for the exchange functions
  PyObject *session = nullptr;         // lammps_uq.fix.bridge.Session
  Py_buffer fbuf{}, ebuf{}, vbuf{};    // buffers of the returned forces, energies, virials
  bool holding = false;                // whether fbuf/ebuf are held
  bool holding_virials = false;        // whether vbuf is held
  std::string read_settings(UQSettings &parsed);
  std::string read_error_model(double rcut, UQErrorModel &model);
  std::string take_outputs(PyObject *result, UQEvaluation &ev);
};

// exchange.forward/reverse(array): the collective ghost exchanges offered to the evaluator
template <bool reverse> PyObject *py_exchange(PyObject *self, PyObject *arg)
{
  auto *bridge = (PythonBridge *) PyCapsule_GetPointer(self, "lammps_uq.bridge");
  if (!bridge || !bridge->current || !bridge->current->exchanger) {
    PyErr_SetString(PyExc_RuntimeError, "fix uq exchanges are only available inside evaluate()");
    return nullptr;
  }
  Py_buffer view;
  if (PyObject_GetBuffer(arg, &view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT) != 0)
    return nullptr;
  const int nall = bridge->current->nall;
  bool ok = view.itemsize == 8 && view.format && std::strcmp(view.format, "d") == 0 &&
      (view.ndim == 1 || view.ndim == 2) && view.shape[0] == nall;
  if (!ok) {
    PyBuffer_Release(&view);
    PyErr_Format(PyExc_ValueError,
                 "fix uq exchange expects a writable C-contiguous float64 "
                 "array of shape (nall=%d,) or (nall=%d, k)",
                 nall, nall);
    return nullptr;
  }
  int width = view.ndim == 2 ? (int) view.shape[1] : 1;
  std::string err = bridge->current->exchanger->exchange((double *) view.buf, width, reverse);
  PyBuffer_Release(&view);
  if (!err.empty()) {
    PyErr_SetString(PyExc_RuntimeError, err.c_str());
    return nullptr;
  }
  Py_RETURN_NONE;
}

PyMethodDef forward_def = {"forward", py_exchange<false>, METH_O, "forward ghost exchange"};
PyMethodDef reverse_def = {"reverse", py_exchange<true>, METH_O, "reverse ghost exchange"};

PythonBridge::~PythonBridge()
{
  // at interpreter shutdown the objects go with the interpreter: leave them
  if (!Py_IsInitialized() || _Py_IsFinalizing()) return;
  GIL gil;
  release_outputs();
  Py_XDECREF(session);
  Py_XDECREF(capsule);
}

std::string PythonBridge::create(const UQEvaluatorSpec &spec, UQSettings &parsed)
{
  GIL gil;
  PyObject *mod = PyImport_ImportModule("lammps_uq.fix.bridge");
  if (!mod) return fetch_error();
  PyObject *fwd = PyCFunction_New(&forward_def, capsule);
  PyObject *rev = PyCFunction_New(&reverse_def, capsule);
  PyObject *args = string_list(spec.args), *elements = string_list(spec.elements);
  PyObject *options = string_dict(spec.options), *settings = string_dict(spec.settings);
  session = PyObject_CallMethod(mod, "create", "OOsOOOO", args, elements, spec.units.c_str(),
                                options, fwd, rev, settings);
  for (PyObject *object : {args, elements, options, settings, fwd, rev, mod}) Py_XDECREF(object);
  if (!session) return fetch_error();
  return read_settings(parsed);
}

// session.settings: {keyword: int, float or word}, as lammps_uq.science.settings parsed them
std::string PythonBridge::read_settings(UQSettings &parsed)
{
  PyObject *dict = PyObject_GetAttrString(session, "settings"), *key, *value;
  if (dict && !PyDict_Check(dict)) PyErr_SetString(PyExc_TypeError, "settings: expected a dict");
  for (Py_ssize_t pos = 0; !PyErr_Occurred() && PyDict_Next(dict, &pos, &key, &value);) {
    const char *name = PyUnicode_AsUTF8(key);    // a TypeError unless a str
    if (!name) break;
    if (PyFloat_Check(value))
      parsed.real[name] = PyFloat_AsDouble(value);
    else if (PyUnicode_Check(value))
      parsed.word[name] = PyUnicode_AsUTF8(value);
    else
      parsed.integer[name] = PyLong_AsLongLong(value);    // a TypeError unless an int
  }
  Py_XDECREF(dict);
  return PyErr_Occurred() ? fetch_error() : "";
}

std::string PythonBridge::describe(double rcut, UQEvaluatorInfo &info)
{
  GIL gil;
  PyObject *res = PyObject_CallMethod(session, "describe", "d", rcut);
  if (!res) return fetch_error();
  PyObject *numbers = nullptr;
  const char *name = nullptr;
  int ok = PyArg_ParseTuple(res, "idiOsd", &info.n_models, &info.ghost_cutoff,
                            &info.max_exchange_width, &numbers, &name, &info.alpha);
  if (ok) {
    info.name = name;
    info.numbers.clear();
    for (Py_ssize_t i = 0; i < PySequence_Size(numbers); ++i) {
      PyObject *item = PySequence_GetItem(numbers, i);
      info.numbers.push_back((int) PyLong_AsLong(item));
      Py_XDECREF(item);
    }
  }
  Py_DECREF(res);
  if (!ok || PyErr_Occurred()) return fetch_error();
  return read_error_model(rcut, info.error_model);
}

// session.error_model(rcut) -> (t, the 7 numbers of the lower curve, the 7 of the upper):
// science.error_model.PARAMETERS, issues 16 and 23
std::string PythonBridge::read_error_model(double rcut, UQErrorModel &model)
{
  PyObject *res = PyObject_CallMethod(session, "error_model", "d", rcut);
  if (!res) return fetch_error();
  UQErrorCurve *curves[2] = {&model.lower, &model.upper};
  double values[15];
  int ok = PySequence_Check(res) && PySequence_Size(res) == 15;
  for (Py_ssize_t i = 0; ok && i < 15; ++i) {
    PyObject *item = PySequence_GetItem(res, i);
    values[i] = item ? PyFloat_AsDouble(item) : 0.0;
    Py_XDECREF(item);
    ok = item && !PyErr_Occurred();
  }
  Py_DECREF(res);
  if (!ok || PyErr_Occurred()) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_TypeError, "error_model(rcut): expected 15 numbers");
    return fetch_error();
  }
  model.t = values[0];
  for (int k = 0; k < 2; ++k) {
    const double *v = values + 1 + 7 * k;
    *curves[k] = UQErrorCurve{v[0], v[1], v[2], v[3], v[4], v[5], v[6]};
  }
  model.finish();
  return "";
}

std::string PythonBridge::evaluate(UQEvaluation &ev)
{
  GIL gil;
  release_outputs();
  current = &ev;
  PyObject *x = view_of(ev.x, sizeof(double) * 3 * ev.nall);
  PyObject *type = view_of(ev.type, sizeof(int) * ev.nall);
  PyObject *image = view_of(ev.image_of, sizeof(int) * ev.nall);
  PyObject *result = PyObject_CallMethod(session, "evaluate", "OOOiLi", x, type, image, ev.nlocal,
                                         (long long) ev.step, ev.member);
  Py_XDECREF(x);
  Py_XDECREF(type);
  Py_XDECREF(image);
  current = nullptr;
  if (!result) return fetch_error();
  std::string err = take_outputs(result, ev);
  Py_DECREF(result);
  return err;
}

// keeps buffers of the (forces, energies, virials or None) that Session.evaluate validated
std::string PythonBridge::take_outputs(PyObject *result, UQEvaluation &ev)
{
  PyObject *forces = nullptr, *energies = nullptr, *virials = nullptr;
  if (!PyArg_ParseTuple(result, "OOO", &forces, &energies, &virials)) return fetch_error();
  const int flags = PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE;
  if (PyObject_GetBuffer(forces, &fbuf, flags) != 0) return fetch_error();
  if (PyObject_GetBuffer(energies, &ebuf, flags) != 0) {
    PyBuffer_Release(&fbuf);
    return fetch_error();
  }
  holding = true;
  ev.forces = (double *) fbuf.buf;
  ev.energies = (double *) ebuf.buf;
  ev.virials = nullptr;
  if (virials == Py_None) return "";
  if (PyObject_GetBuffer(virials, &vbuf, flags) != 0) return fetch_error();
  holding_virials = true;
  ev.virials = (double *) vbuf.buf;
  return "";
}

void PythonBridge::release_outputs()
{
  if (!holding && !holding_virials) return;
  GIL gil;
  if (holding) {
    PyBuffer_Release(&fbuf);
    PyBuffer_Release(&ebuf);
  }
  if (holding_virials) PyBuffer_Release(&vbuf);
  holding = holding_virials = false;
}

std::string PythonBridge::report()
{
  GIL gil;
  PyObject *res = PyObject_CallMethod(session, "report", nullptr);
  std::string text = (res && PyUnicode_Check(res)) ? PyUnicode_AsUTF8(res) : "";
  if (!res) PyErr_Clear();
  Py_XDECREF(res);
  return text;
}

std::string PythonBridge::finish_run()
{
  GIL gil;
  PyObject *res = PyObject_CallMethod(session, "finish_run", nullptr);
  if (!res) return "fix uq carve: " + fetch_error();
  std::string text = PyUnicode_Check(res) ? PyUnicode_AsUTF8(res) : "";
  Py_DECREF(res);
  return text;
}

std::string PythonBridge::write_region(const std::string &path, const double *rows, int nrows,
                                       const std::string &info_json, long long &bytes)
{
  GIL gil;
  PyObject *table = view_of(rows, sizeof(double) * 10 * nrows);
  PyObject *res = PyObject_CallMethod(session, "write_region", "sOisL", path.c_str(), table, nrows,
                                      info_json.c_str(), bytes);
  Py_XDECREF(table);
  if (!res) return fetch_error();
  bytes = PyLong_AsLongLong(res);
  Py_DECREF(res);
  return PyErr_Occurred() ? fetch_error() : "";
}

// starts the interpreter when the host has none; leaves the GIL released
std::string start_interpreter(const std::string &plugin_dir)
{
  if (Py_IsInitialized()) return "";
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.install_signal_handlers = 0;
  config.parse_argv = 0;
  std::string exe = python_executable(plugin_dir);
  PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, exe.c_str());
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status))
    return std::string("fix uq cannot start Python (") + exe +
        "): " + (status.err_msg ? status.err_msg : "unknown error");
  // lammps_uq's own site-packages, for installs outside a virtual environment
  std::string site = parent(parent(plugin_dir));
  std::string code = "import site, sys\nsite.addsitedir(" + std::string("r'") + site + "')\n";
  int rc = PyRun_SimpleString(code.c_str());
  PyEval_SaveThread();
  return rc == 0 ? "" : "fix uq cannot add " + site + " to the Python path";
}

}    // namespace

extern "C" UQBridge *uq_bridge_new(const char *plugin_dir, char *errbuf, int errlen)
{
  std::string err = start_interpreter(plugin_dir);
  if (!err.empty()) {
    snprintf(errbuf, errlen, "%s", err.c_str());
    return nullptr;
  }
  GIL gil;
  return new PythonBridge();
}
