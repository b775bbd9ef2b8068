"""report.html on small synthetic run folders: layout, captions, units, notes, parameters, escaping."""
from __future__ import annotations

import base64
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from vtkit.config import Config
from vtkit.report import FIGURE_CAPTIONS, write_report

DPI = 20  # tiny PNGs: 7 in at 20 dpi is 140 px, shown 700 CSS px wide like 1400 px at 200 dpi
FIGURES = ["04_metric_bars", "overview", "01_descriptions", "03_heatmap_10", "01_timelines", "02_training_curves",
           "03_heatmap_2", "01_coverage", "03_explorer", "01_extra", "zz_custom", "03_similarity_distributions",
           "04_recall_curves", "01_durations", "02_untrained_vs_trained", "03_trained_vs_untrained",
           "04_level_breakdown", "04_duration_breakdown"]
HALF = {"01_coverage", "03_similarity_distributions"}
TRAINING = {
    "metric": "heldout_R1@0.3", "best_metric": 0.3181818181818182, "best_epoch": 8, "epochs": 8,
    "stopped_early": False, "params": {"trainable": 246529, "total": 22959745},
    "start": "ridge start", "untrained": {"heldout_t2v_R1": 0.045454545454545456, "heldout_R1@0.3": 0.0},
    "trained": {"heldout_t2v_R1": 0.18181818181818182, "heldout_R1@0.3": 0.3181818181818182},
    "chosen_by": "1 held-out train videos (15% of 8, seed 0)",
    "choices": {"substep_mode": "hierarchical", "background_value": 50.0},
    "selection_table": {"hierarchical/40": 0.2727272727272727, "hierarchical/50": 0.3181818181818182,
                        "parent/40": 0.2727272727272727, "parent/50": 0.25},
}
DP = {"R1@0.3": 0.4444444444444444, "R1@0.5": 0.3111111111111111, "R5@0.3": 0.5666666666666667,
      "R5@0.5": 0.4666666666666667, "mIoU": 0.32645730543517837}


def _png(path: Path, width_in: float, height_in: float = 1.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (round(width_in * DPI), round(height_in * DPI)), "white").save(path, dpi=(DPI, DPI))


def _metrics(**extra) -> dict:
    return {"aligners": {"dp": DP, "dfs": DP, "unordered": {k: v / 4 for k, v in DP.items()}, "dropdtw": DP},
            "queries": 90, "videos": 4, "dfs_over_budget_videos": 0,
            "by_level": {"dp": {"step": {**DP, "queries": 48}}},
            "untrained_dp": {k: 0.0 for k in DP} | {"R5@0.3": 0.022222222222222223},
            "training": TRAINING, **extra}


def _run(folder: Path, metrics: dict | None = None, figures=FIGURES, **params) -> Path:
    """A run folder: run.json with the parameters a run records (absolute paths), metrics.json, figures."""
    base = Config().to_dict()
    absolute = {k: f"/data/{Path(base[k]).name}" for k in ("video_root", "train_annotations", "val_annotations")}
    record = {"status": "done", "started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:01:00+00:00",
              "parameters": {**base, **absolute, "out_dir": str(folder), **params},
              "versions": {"vtkit": "0.1.0", "torch": "2.13.0"}, "git": {"commit": "abc123", "dirty": False},
              "notebooks": [{"name": "01_data_inspection.ipynb", "status": "done", "seconds": 1.25}]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps(record))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    for name in figures:
        _png(folder / "figures" / f"{name}.png", 3.4 if name in HALF else 7.0)
    return folder


class _Checker(HTMLParser):
    """Every element closed, in order (void elements excepted)."""
    VOID = {"meta", "img", "br", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def _page(folder: Path) -> str:
    page = write_report(folder).read_text(encoding="utf-8")
    checker = _Checker()
    checker.feed(page)
    assert page.startswith("<!DOCTYPE html>") and not checker.errors and not checker.stack
    return page


def _captions(page: str) -> list[str]:
    """The captions, without the file names after them."""
    found = re.findall(r'<figcaption><b>Figure \d+\.</b> (.*?)(?: <span class="file">.*?</span>)?</figcaption>', page)
    return [html.unescape(c) for c in found]


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    return _page(_run(tmp_path_factory.mktemp("runs") / "r", _metrics(), epochs=3, aligner="dfs"))


def test_sections_in_notebook_order_with_the_overview_first(page):
    headings = re.findall(r"<h[23]>(.*?)</h[23]>", page)
    figures = headings[headings.index("Figures"):]
    assert figures[:6] == ["Figures", "01 Data inspection", "02 Training", "03 Similarity analysis", "04 Evaluation",
                           "Other figures"]
    assert page.index("<figure") < page.index("<h2>Metrics</h2>")  # the headline figure on top
    captions = _captions(page)
    assert captions[0] == FIGURE_CAPTIONS["overview"] and captions.count(FIGURE_CAPTIONS["overview"]) == 1
    heatmap = FIGURE_CAPTIONS["03_heatmap_<i>"]
    expected = [FIGURE_CAPTIONS[n] for n in ("overview", "01_timelines", "01_durations", "01_coverage",
                                             "01_descriptions")] + ["01_extra.png"]
    expected += [FIGURE_CAPTIONS[n] for n in ("02_training_curves", "02_untrained_vs_trained")]
    expected += [heatmap.format(n=3), heatmap.format(n=11)]
    expected += [FIGURE_CAPTIONS[n] for n in ("03_similarity_distributions", "03_trained_vs_untrained",
                                              "03_explorer", "04_recall_curves", "04_level_breakdown",
                                              "04_duration_breakdown", "04_metric_bars")] + ["zz_custom.png"]
    assert captions == expected
    assert '<span class="file">overview.png</span></figcaption>' in page  # named by its file, for a paper
    assert re.findall(r"Figure (\d+)\.", page) == [str(i) for i in range(1, len(FIGURES) + 1)]


def test_figures_are_embedded_at_their_printed_size(page, tmp_path):
    sizes = re.findall(r'<figure style="width: (\d+)px"><img src="data:image/png;base64,([^"]+)" width="(\d+)"', page)
    assert len(sizes) == len(FIGURES)
    assert sorted({int(w) for w, _, _ in sizes}) == [340, 700]
    assert sum(w == "340" for w, _, _ in sizes) == len(HALF)
    assert all(base64.b64decode(data).startswith(b"\x89PNG") for _, data, _ in sizes)


def test_metrics_are_percent_with_the_reference_and_counts_plain(page):
    for value in ("44.44", "31.11", "56.67", "46.67", "32.65", "11.11"):
        assert f'<td class="num">{value}</td>' in page
    assert '<td class="num ref">2.22</td>' in page and "untrained model, dp (reference)" in page
    assert "Val split (goalstep_val.json): 90 queries (steps and substeps) on 4 videos" in page
    assert '<td class="num">31.82</td>' in page and '<td class="num chosen">31.82</td>' in page  # selection table
    assert '<td class="num">4.55</td><td class="num">18.18</td>' in page     # untrained vs trained
    assert "ridge start (epoch 0)</th>" in page
    assert "<td>Text-to-video R@1</td>" in page and "246,529 of 22,959,745" in page
    assert "<td>val queries</td><td>90</td>" in page and "<td>chosen background percentile</td><td>50</td>" in page
    for fraction in ("0.3182", "0.4444", "0.04545", "heldout_t2v_R1", "training/"):
        assert fraction not in page


def test_notes_say_why_rows_are_identical(tmp_path, page):
    dropdtw = ("Drop-DTW with contiguous steps solves the DP's objective (drop cost = minus the background), "
               "so its row equals dp's.")
    assert dropdtw in html.unescape(page)
    assert "DFS went over its budget on" not in page
    over = _page(_run(tmp_path / "over", _metrics(dfs_over_budget_videos=2)))
    assert ("DFS went over its budget on 2 of 4 videos; there the DP answer (the same optimum) stands in."
            in over)
    table, notes = over.index("<td>dropdtw</td>"), over.index("DFS went over its budget on")
    assert table < notes < over.index("By level")


def test_every_report_says_which_split_chose_what(page, tmp_path):
    text = html.unescape(page)
    assert ("The selection split, 1 held-out train videos (15% of 8, seed 0), chose the best epoch (8 of 8), the "
            "substep mode (hierarchical) and the background percentile (50); val chose nothing and is scored once"
            in text)
    assert "The training curves (02 Training) and the tables below are on the selection split" in text
    assert "dp R1@0.3 44.44 %" in text
    fixed = {**TRAINING, "choices": {"substep_mode": "parent", "background_value": 50.0},
             "selection_table": {"parent/40": 0.2, "parent/50": 0.25}}
    one_mode = _page(_run(tmp_path / "fixed", _metrics(training=fixed), figures=()))
    assert "chose the best epoch (8 of 8) and the background percentile (50)" in one_mode
    assert "Set by the parameters, not chosen: the substep mode (parent)." in one_mode
    (tmp_path / "only_training").mkdir()
    (tmp_path / "only_training" / "training.json").write_text(json.dumps({**TRAINING, "seconds": 11.47}))
    alone = _page(_run(tmp_path / "only_training"))  # training.json, no metrics.json
    assert "The selection split, 1 held-out train videos" in alone and "11.5 s" in alone


def test_parameters_are_grouped_and_non_defaults_marked(page):
    groups = re.findall(r"<section><h3>(.*?)</h3>", page)
    assert groups == ["data", "model", "training", "selection", "alignment"]
    section = lambda name: page[page.index(f"<h3>{name}</h3>"):].split("</section>")[0]  # noqa: E731
    assert "<td class=\"code\">epochs</td><td class=\"value changed\">3 (default 8)</td>" in section("training")
    assert "<td class=\"code\">aligner</td><td class=\"value changed\">dfs (default dp)</td>" in section("alignment")
    assert "<td class=\"code\">video_root</td><td class=\"value path\">/<wbr>data/<wbr>videos</td>" in section("data")
    assert "<td class=\"code\">adapter</td><td class=\"value\">bottleneck</td>" in section("model")
    assert "&quot;" not in page and "<td class=\"value\">None</td>" in page
    assert page.count("changed\">") == 3  # epochs, aligner and out_dir (another folder name than the default's)


def test_hostile_strings_are_escaped(tmp_path):
    hostile = "<script>alert(1)</script>"
    metrics = _metrics(note=hostile)
    metrics["aligners"][hostile] = DP
    metrics["training"] = {**TRAINING, "chosen_by": hostile, "choices": {"substep_mode": hostile}}
    folder = _run(tmp_path / "x<y>", metrics, figures=("01_<img src=x>",), text_model=hostile,
                  val_annotations=f"/data/{hostile}.json")
    page = _page(folder)
    assert "<script" not in page and "<img src=x>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<h1>vtkit run: x&lt;y&gt;</h1>" in page
    assert "01_&lt;img src=x&gt;.png</figcaption>" in page


def test_a_page_without_metrics_or_figures(tmp_path):
    page = _page(_run(tmp_path / "bare", figures=()))
    assert "No metrics.json in the run folder." in page and "No figures." in page
    assert "This run holds no training record" in page and "<section><h3>data</h3>" in page
    (tmp_path / "bare" / "metrics.json").write_text("{not json")
    (tmp_path / "bare" / "figures").mkdir()
    (tmp_path / "bare" / "figures" / "02_broken.png").write_bytes(b"not a png")
    broken = _page(tmp_path / "bare")
    assert "metrics.json could not be read" in broken and "<figure><img" in broken and "02_broken.png" in broken


def test_readme_block_says_what_was_chosen_and_what_was_set(tmp_path):
    from vtkit.report import README_END, README_START, publish

    fixed = {**TRAINING, "choices": {"substep_mode": "hierarchical", "background_value": 60.0},
             "selection_table": {"hierarchical/50": 0.2, "hierarchical/60": 0.25}}
    readme = tmp_path / "README.md"
    readme.write_text(f"top\n{README_START}\nold\n{README_END}\nbottom\n")
    publish(_run(tmp_path / "run", _metrics(training=fixed), figures=()), readme, tmp_path / "figures")
    text = readme.read_text()
    assert ("Chosen on 1 held-out train videos (15% of 8, seed 0), never on val: the best epoch (8 of 8) and the "
            "background percentile (60); val is scored once, at the end. Set by the parameters: the substep mode "
            "(hierarchical).") in text
    assert "On the selection split, training from the ridge start (epoch 0) takes text-to-video R@1 from 4.5" in text
    assert text.startswith("top\n") and text.endswith("bottom\n") and "old" not in text


def test_a_background_per_level_is_named_and_its_cells_marked(tmp_path):
    staged = {**TRAINING, "choices": {"substep_mode": "hierarchical", "background_value": 50.0,
                                      "substep_background_value": 80.0},
              "selection_table": {"steps/50": 0.7, "steps/80": 0.6, "hierarchical/50": 0.4, "hierarchical/80": 0.5}}
    page = html.unescape(_page(_run(tmp_path / "staged", _metrics(training=staged), figures=())))
    assert ("chose the best epoch (8 of 8), the steps' background percentile (50) and the substeps' background "
            "percentile (80)" in page)
    assert "Set by the parameters, not chosen: the substep mode (hierarchical)." in page
    assert "chosen substeps' background percentile" in page
    selection = page[page.index("<h3>Selection</h3>"):]
    assert "Row steps: the step queries at each steps' background percentile" in selection
    rows = re.findall(r"<tr>(.*?)</tr>", selection.split("</table>")[0])
    cells = [re.findall(r"<t[dh]([^>]*)>(.*?)</t[dh]>", r) for r in rows]
    assert cells[0][0][1] == "steps / substep mode \\ percentile"
    marked = {c[0][1]: ["chosen" in attrs for attrs, _ in c[1:]] for c in cells[1:]}
    assert marked == {"steps": [True, False], "hierarchical": [False, True]}
    one_value = {**staged, "choices": {**staged["choices"], "substep_mode": "parent"},
                 "selection_table": {"steps/50": 0.7, "steps/80": 0.6, "hierarchical/80": 0.5, "parent/80": 0.55,
                                     "video/80": 0.3}}   # three modes, one substeps' percentile tried
    fixed = html.unescape(_page(_run(tmp_path / "one_value", _metrics(training=one_value), figures=())))
    assert ("chose the best epoch (8 of 8), the substep mode (parent) and the steps' background percentile (50)"
            in fixed)
    assert "Set by the parameters, not chosen: the substeps' background percentile (80)." in fixed
