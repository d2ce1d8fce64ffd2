"""CP2K's input and output handled without CP2K (issue 25): the generated input, a user's
``inp`` merged into it, the text of an [ABORT] box and an unconverged SCF read back."""

from __future__ import annotations

from lammps_uq.extract import cp2k

BOX = """ *******************************************************************************
 *   ___                                                                       *
 *  /   \\   The length of the string <some/long/folder/cp2k> has more than 80  *
 * [ABORT]  characters and is therefore too long to fit in the specified       *
 *  \\___/   variable                                                           *
 *    |                                                                        *
 *  O/|                                                                        *
 * /| |                                                                        *
 * / \\                                          input/cp_parser_methods.F:1227 *
 *******************************************************************************
"""


def test_abort_box_is_read_as_one_line(tmp_path):
    out = tmp_path / "cp2k.out"
    out.write_text(" some output\n" + BOX + "\n ===== Routine Calling Stack =====\n")
    assert cp2k.abort_reason(out) == (
        "The length of the string <some/long/folder/cp2k> has more than 80 characters and is "
        "therefore too long to fit in the specified variable")


def test_unconverged_scf_warning_is_a_reason(tmp_path):
    out = tmp_path / "cp2k.out"
    out.write_text("\n *** WARNING in qs_scf.F:601 :: SCF run NOT converged ***\n\n ENERGY| x\n")
    assert cp2k.abort_reason(out) == ("SCF run NOT converged (WARNING in qs_scf.F:601; raise "
                                      "max_scf or check the structure)")
    out.write_text(" ENERGY| Total FORCE_EVAL ( QS ) energy [a.u.]: -17.2\n")
    assert cp2k.abort_reason(out) is None


def test_input_holds_the_settings_and_a_merged_inp():
    values = cp2k.settings({"functional": "PBE", "dispersion": "D3BJ", "cutoff": 500,
                            "smearing": {"electronic_temperature": 500.0, "added_mos": 8}})
    text = cp2k.input_text(values, "&FORCE_EVAL\n &DFT\n  &SCF\n   MAX_ITER_LUMO 7\n"
                                   "  &END SCF\n &END DFT\n&END FORCE_EVAL\n")
    assert text.count("&FORCE_EVAL") == 1 and text.count("&SCF") == 1
    for piece in ("&PBE", "TYPE DFTD3(BJ)", "REFERENCE_FUNCTIONAL PBE", "REL_CUTOFF 60",
                  "ELECTRONIC_TEMPERATURE [K] 500", "ADDED_MOS 8", "MAX_ITER_LUMO 7",
                  "XC_SMOOTH_RHO NN10"):
        assert piece in text, piece
    assert "&OT" not in text  # smearing: diagonalization
    assert cp2k.method(values) == "PBE-D3BJ/DZVP-MOLOPT-SR-GTH/GTH-PBE/500 Ry"
    # a keyword of ours given again replaces ours (CP2K aborts on "should not repeat")
    text = cp2k.input_text(values, "&FORCE_EVAL\n&DFT\n&QS\nEPS_DEFAULT 1.0E-14\n&END QS\n"
                                   "&END DFT\n&END FORCE_EVAL\n")
    assert text.count("EPS_DEFAULT") == 1 and "EPS_DEFAULT 1.0E-14" in text
    assert cp2k.options({"cutoff": 500})["cutoff"] == 500 * 13.605693122994


def test_docs_cutoff_table_is_the_benchmarks_file():
    """docs/cp2k.md's convergence tables are rendered from benchmarks/results/cp2k_cutoff.json
    and cp2k_cutoff_unsmoothed.json."""
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("cp2k_cutoff",
                                                  root / "benchmarks" / "cp2k_cutoff.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    page = (root / "docs" / "cp2k.md").read_text()
    for name, mark in (("cp2k_cutoff", bench.MARK),
                       ("cp2k_cutoff_unsmoothed", bench.MARK_UNSMOOTHED)):
        data = json.loads((root / "benchmarks" / "results" / f"{name}.json").read_text())
        assert page.split(mark)[1].strip() == bench.markdown(data), name


def test_isolated_atoms_get_their_ground_state_spin():
    """The loop's E0s with CP2K (learn.e0s): H a doublet and O a triplet, unrestricted, neutral
    and without stress, whatever the cells' [cp2k] says; other labellers' configs unchanged."""
    from lammps_uq.learn.e0s import atom_config

    config = {"cp2k": {"cutoff": 300, "multiplicity": 1, "charge": -1, "stress": True}}
    for symbol, multiplicity in (("H", 2), ("O", 3), ("Cu", 2), ("Ne", 1)):
        section = atom_config("cp2k", config, symbol)["cp2k"]
        assert (section["multiplicity"], section["charge"], section["stress"]) == (
            multiplicity, 0, False), symbol
        assert section["cutoff"] == 300
        found = cp2k.options(section)
        assert found["uks"] is (multiplicity > 1)
        assert "MINIMIZER CG" in found["inp"] and found["inp"].count("&OT") == 1
    assert config["cp2k"]["multiplicity"] == 1  # the cells' settings are not touched
    assert atom_config("xtb", config, "O") is config
    metal = atom_config("cp2k", {"cp2k": {"smearing": {"electronic_temperature": 500.0}}}, "Cu")
    assert "&OT" not in cp2k.options(metal["cp2k"])["inp"]  # diagonalization
    mine = "&FORCE_EVAL\n&DFT\n&QS\nEPS_DEFAULT 1.0E-14\n&END QS\n&END DFT\n&END FORCE_EVAL\n"
    text = cp2k.options(atom_config("cp2k", {"cp2k": {"inp": mine}}, "O")["cp2k"])["inp"]
    assert "EPS_DEFAULT 1.0E-14" in text and "MINIMIZER CG" in text


def test_docs_loop_table_is_the_examples_file():
    """docs/cp2k.md's and the README's one-iteration table (CP2K next to xTB) is rendered from
    examples/cp2k_loop/results/cp2k_loop.json, and the run labelled with both."""
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location(
        "run_cp2k_loop", root / "examples" / "cp2k_loop" / "run_cp2k_loop.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    data = json.loads(example.RESULTS.read_text())
    assert [r["calculator"] for r in data["runs"]] == ["cp2k", "xtb"]
    assert data["runs"][0]["e0s"]["method"] == "cp2k"
    for page in (root / "docs" / "cp2k.md", root / "README.md"):
        assert page.read_text().split(example.MARK)[1].strip() == example.markdown(data), page
