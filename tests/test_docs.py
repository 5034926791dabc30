"""The generated numbers pages (docs/results.md, bench/README.md, the README's phase table) are a regeneration of
the committed values, and the committed records of full runs are consistent with themselves."""

from __future__ import annotations

import json
import re

import pytest

from sdfnets import paths
from sdfnets.repro import results

FULL_GPU = "figures_full-gpu"  # the whole sequence at f091519 (4 H200)
H100_GPU = "figures_full_h100-gpu"  # at d865395 (4 H100)
X2_GPU = "figures_full_2xh200-gpu"  # at cf16660, four jobs per GPU (2 H200)
X4_GPU = "figures_full_4xh200_c5d6bda-gpu"  # at c5d6bda, two jobs per GPU (4 H200)
X4B_GPU = "figures_full_4xh200_c4917eb-gpu"  # at c4917eb, three jobs per GPU in wave 2
X4C_GPU = "figures_full_4xh200_9fc1497-gpu"  # at 9fc1497


def _value(source: str, key: str):
    v = json.loads((paths.BENCH_DIR / "results" / f"{source}.json").read_text())
    for part in key.split("/"):
        v = v[int(part)] if isinstance(v, list) else v[part]
    return v


def test_the_committed_pages_are_a_regeneration():
    assert results.main(["--check"]) == 0, "run: python -m sdfnets.repro.results"


def test_a_value_that_moves_changes_the_pages(monkeypatch):
    before_page, before_table = results.results_page(), results.phase_table()
    real = results._record

    def moved(stem, scale):
        rec = real(stem, scale)
        if rec and stem == "11_deepsdf" and scale == "full":
            rec["values"]["full"]["sdf_l1_mean"] = 0.98765
        return rec

    monkeypatch.setattr(results, "_record", moved)
    assert "0.98765" not in before_page and "0.98765" in results.results_page()
    assert "0.98765" in results.phase_table() and results.phase_table() != before_table


def test_a_variants_table_has_a_column_for_every_value_any_variant_recorded():
    rows = results._variants_table({"a": {"steps": 600, "cosine": -0.011612}, "b": {"cosine": 0.25, "note": "x"}})
    assert rows[0] == "| variant | steps | cosine | note |"
    assert rows[2:] == ["| a | 600 | -0.0116 |  |", "| b |  | 0.25 | x |"]


def test_a_trajectory_is_a_table_by_step_count_in_numeric_order():
    rows = results._trajectory_tables({"b4": {"20000": {"cosine": 0.0123}, "5000": {"cosine": 0.0159}}, "none": {}})
    assert rows[:3] == ["", "Along the training of b4:", ""]
    assert rows[3:] == ["| steps | cosine |", "|---|---:|", "| 5,000 | 0.0159 |", "| 20,000 | 0.0123 |"]


def test_a_number_missing_or_not_measured_shows_as_a_dash():
    assert results._number(0.12345, "{:.3f}") == "0.123"
    assert results._number(float("nan"), "{:.3f}") == "—"  # an empty mesh has no Chamfer distance
    assert results._number(None, "{:.2f}") == "—"


def test_every_headline_names_a_recorded_value():
    """A key that no committed values file holds would print a dash forever: each names a real number."""
    for stem, rows in results.HEADLINES.items():
        recs = [r for s in results.SCALES if (r := results._record(stem, s))]
        for row in rows:
            assert any(isinstance(results.lookup(r["values"], row.key), (int, float)) for r in recs), (stem, row.key)
    for _, stem, row in results.PHASES:
        if row:
            assert isinstance(results.lookup(results._record(stem, "full")["values"], row.key), (int, float)), stem


def test_the_readme_table_links_every_notebook_to_its_section():
    readme = (paths.REPO_ROOT / "README.md").read_text()
    page = (paths.REPO_ROOT / "docs" / "results.md").read_text()
    anchors = {results._anchor(h[3:]) for h in page.splitlines() if h.startswith("## ")}
    links = re.findall(r"\(docs/results\.md#([^)]+)\)", readme)
    notebooks = [link for link in links if re.match(r"\d\d--", link)]  # the phase table's; the rest: other sections
    assert len(notebooks) == len(list(paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))) and set(links) <= anchors


def _occupied(spans) -> float:
    """Seconds covered by the union of (start, end) spans: a GPU's occupied time."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        total += max(0.0, b - max(a, end))
        end = max(end, b)
    return total


NEWER_THAN_THE_SEQUENCE = {"17"}  # the collapse dose-response, written after the wave scheduler was retired


@pytest.mark.parametrize("source", [FULL_GPU, H100_GPU, X2_GPU, X4_GPU, X4B_GPU, X4C_GPU])
def test_the_committed_full_sequence_ran_every_gpu_notebook(source):
    """The runs the record calls complete: every GPU notebook finished in some job, and the GPU time is each
    GPU's occupied time (the union of its jobs' spans) plus the rebuild."""
    from sdfnets.repro import workflow

    run = _value(source, "jobs")
    finished = {nb for j in run for nb, r in j.get("notebooks", {}).items() if r["status"] == "ran"}
    # the wave scheduler's jobs: all but 01 and 13, and the notebooks written after these runs
    assert finished == set(workflow.notebooks()) - {"01", "13"} - NEWER_THAN_THE_SEQUENCE
    assert _value(source, "complete") is True
    for g, seconds in _value(source, "gpu_occupied_seconds").items():
        spans = [(j["start_s"], j["end_s"]) for j in run if str(j.get("gpu")) == g]
        assert abs(_occupied(spans) - seconds) < 0.5
    occupied = sum(_value(source, "gpu_occupied_seconds").values())
    assert abs(occupied + run[0]["seconds"] - _value(source, "gpu_seconds")) < 0.5
    assert _value(source, "gpu_minutes") == round(_value(source, "gpu_seconds") / 60, 1)


def test_claim_verdicts_follow_their_rules():
    from sdfnets import thesis

    nb = "07_weight_dit_single_view"
    line = lambda rows, scale="full": thesis.verdicts(nb, {"phase6": {"vectors": {"rows_for_half": rows}}}, scale)  # noqa: E731
    assert len(line(4)) == 1 and line(4)[0].endswith("→ reproduced (phenomenon when ≤ 8 of 32)")
    assert "→ reproduced with a measured difference" in line(7)[0]  # the collapse, on more shapes than 4
    assert "→ contradicted" in line(14)[0] and "at cpu scale" in line(14, "cpu")[0]
    assert thesis.verdicts(nb, {"phase6": {}}, "full") == [] and thesis.verdicts("00_data_foundation", {}, "full") == []
    bound = next(c for c in thesis.CLAIMS if c.bound == "≥")  # a bound: meeting it is the same number
    assert bound.verdict(bound.thesis * 1.5) == "reproduced" and bound.verdict(float("nan")) == "not recorded"
    assert thesis._fmt(0.99993) == "0.99993" and thesis._fmt(0.884) == "0.884"
    # shown findings: the printed lines, then the verdicts the rules give now (a stored verdict line replaced)
    rec = {"notebook": nb, "scale": "full", "values": {"phase6": {"vectors": {"rows_for_half": 14}}},
           "findings": ["a printed line", "verdict: an older rule → reproduced"]}
    assert thesis.findings(rec) == ["a printed line", *line(14)]
    assert thesis.findings({"findings": None}) == []
