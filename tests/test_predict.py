"""Query windows in seconds: steps, substep modes, relaxed settings, DFS fallback."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vtkit.align import AlignSettings
from vtkit.predict import predict_queries, step_spans

CONSTANT0 = AlignSettings(background="constant", background_value=0.0, min_len=1, query_norm="none",
                          substep_evidence=0.0)   # each query on its own raw scores


def _video():
    """Two steps (chunks 2..7 and 10..15 of a 20-chunk stretch starting at chunk 5), three substeps."""
    from vtkit.annotations import Query, Video

    video = Video("v", 10.0, 50.0, None, None)
    spans = [("step", None, 14.0, 26.0), ("substep", 0, 14.0, 18.0), ("substep", 0, 20.0, 26.0),
             ("step", None, 30.0, 42.0), ("substep", 3, 32.0, 38.0)]
    step_index = -1
    for i, (level, parent, start, end) in enumerate(spans):
        step_index += level == "step"
        video.queries.append(Query("v", video.annotation_uid, i, level, f"q{i}", start, end, step_index, parent))
    return video


def _similarities(N=20):
    S_steps = np.full((2, N), -1.0)
    S_steps[0, 2:8] = 1.0
    S_steps[1, 10:16] = 1.0
    S_sub = np.full((3, N), -1.0)
    S_sub[0, 2:4] = 1.0
    S_sub[1, 5:8] = 1.0
    S_sub[2, 11:14] = 1.0
    return S_steps, S_sub


@pytest.mark.parametrize("mode", ["video", "parent", "hierarchical"])
def test_predict_queries_windows_in_seconds(mode):
    S_steps, S_sub = _similarities()
    out = predict_queries(_video(), S_steps, S_sub, CONSTANT0, substep_mode=mode, chunk_seconds=2.0,
                          chunk_offset=5)[0]
    assert sorted(out) == [0, 1, 2, 3, 4]
    assert all(len(w) == 5 for w in out.values())
    assert out[0][0] == (14.0, 26.0)     # chunks 2..7 shifted by 5 -> 7..12 -> [14, 26)
    assert out[3][0] == (30.0, 42.0)
    assert out[1][0] == (14.0, 18.0)
    assert out[2][0] == (20.0, 26.0)
    assert out[4][0] == (32.0, 38.0)


def test_parent_mode_keeps_substeps_inside_their_step():
    S_steps, S_sub = _similarities()
    S_sub[0] = -1.0
    S_sub[0, 12:14] = 3.0       # substep 1 looks like it belongs to the second step
    parent, _ = predict_queries(_video(), S_steps, S_sub, CONSTANT0, substep_mode="parent", chunk_offset=5)
    video, _ = predict_queries(_video(), S_steps, S_sub, CONSTANT0, substep_mode="video", chunk_offset=5)
    assert 14.0 <= parent[1][0][0] and parent[1][0][1] <= 26.0
    # the whole-video sequence keeps substep order instead: the misleading substep goes first
    assert video[1][0] == (10.0, 12.0) and video[2][0] == (20.0, 26.0)


def test_predict_queries_with_more_steps_than_chunks():
    """Real videos can hold more steps than chunks: every step still gets windows inside the video."""
    from vtkit.annotations import Query, Video

    video = Video("v", None, None, None, None)
    video.queries += [Query("v", "v", i, "step", f"q{i}", None, None, i, None) for i in range(5)]
    S = np.eye(5)[:, :3] * 2.0 - 1.0        # steps 0..2 each prefer their own chunk; steps 3, 4 nothing
    out, _ = predict_queries(video, S, settings=CONSTANT0, chunk_seconds=2.0)
    assert sorted(out) == [0, 1, 2, 3, 4]
    assert [out[i][0] for i in range(3)] == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)]
    assert all(len(w) == 5 and all(0.0 <= s < e <= 6.0 for s, e in w) for w in out.values())
    # min_len that cannot fit (3 steps x 2 chunks > 5) is lowered rather than failing; per-step bounds that
    # fit are kept for the steps
    out, _ = predict_queries(video, np.zeros((5, 5)), settings=AlignSettings(top_k=1, min_len=2))
    assert len(out) == 5
    ok, _ = predict_queries(video, np.zeros((5, 12)), settings=AlignSettings(
        top_k=1, min_len=np.array([3, 2, 2, 2, 2]), background="constant", background_value=-1.0))
    assert ok[0][0][1] - ok[0][0][0] >= 6.0


def test_dfs_over_budget_falls_back_to_dp_for_the_whole_video():
    S_steps, S_sub = _similarities()
    dfs = CONSTANT0.replace(aligner="dfs", node_budget=1)
    with pytest.raises(Exception, match="budget"):
        predict_queries(_video(), S_steps, S_sub, dfs, chunk_offset=5)
    windows, fell = predict_queries(_video(), S_steps, S_sub, dfs, chunk_offset=5, dfs_fallback=True)
    expected, fell_dp = predict_queries(_video(), S_steps, S_sub, CONSTANT0, chunk_offset=5)
    assert fell and not fell_dp and windows == expected


def test_relaxed_settings_always_admit_an_alignment():
    st = AlignSettings(min_len=3)
    assert st.relaxed(4, 10).min_len == 1 and st.relaxed(4, 10).skip_penalty is None
    assert st.relaxed(12, 10).skip_penalty == 0.0
    assert st.relaxed(3, 10) == st
    skippable = AlignSettings(min_len=20, skip_penalty=1.0)
    assert skippable.relaxed(2, 10).min_len == 10
    per_step = AlignSettings(min_len=np.array([2, 3]), max_len=np.array([4, 6]))
    loose = per_step.relaxed(5, 40)
    assert loose.min_len == 2 and loose.max_len == 6
    assert np.array_equal(per_step.relaxed(2, 40, own_bounds=True).min_len, [2, 3])


def test_settings_from_config():
    from vtkit.config import Config

    cfg = Config(aligner="dfs", dfs_node_budget=77, top_k=3, min_len=2, background="constant", background_value=0.1)
    st = AlignSettings.from_config(cfg)
    assert (st.aligner, st.node_budget, st.top_k, st.min_len, st.background, st.background_value) == \
        ("dfs", 77, 3, 2, "constant", 0.1)
    assert AlignSettings.from_config(Config()) == AlignSettings()


def test_hierarchical_mode_prefers_the_parent_but_may_spill_out():
    S_steps, S_sub = _similarities()
    S_sub[0] = -0.2
    S_sub[0, 2:4] = 0.5
    S_sub[0, 12:14] = 0.6       # slightly stronger, but inside the other step: the parent decides
    hier, _ = predict_queries(_video(), S_steps, S_sub, CONSTANT0, substep_mode="hierarchical", chunk_offset=5)
    # the slot bonus extends substep 1 over its whole slot (chunks 2..4); the second substep keeps its evidence
    assert hier[1][0] == (14.0, 20.0) and hier[2][0] == (20.0, 26.0) and hier[4][0] == (32.0, 38.0)
    alone, _ = predict_queries(_video(), S_steps, S_sub, CONSTANT0.replace(substep_prior=0.0),
                               substep_mode="hierarchical", chunk_offset=5)
    assert alone[1][0] == (14.0, 18.0) and alone[2][0] == (20.0, 26.0)
    # strong evidence just outside the parent wins over the parent's segment
    S_steps, S_sub = _similarities()
    S_sub[0] = -1.0
    S_sub[0, 0:2] = 4.0         # chunks 5..6 = 10..14 s, right before the parent's 14..26 s
    hier, _ = predict_queries(_video(), S_steps, S_sub, CONSTANT0, substep_mode="hierarchical", chunk_offset=5)
    parent, _ = predict_queries(_video(), S_steps, S_sub, CONSTANT0, substep_mode="parent", chunk_offset=5)
    assert hier[1][0][0] == 10.0 and 14.0 <= parent[1][0][0]     # spills out (and keeps its slot)


def test_parent_weight_fades_around_the_parent_and_is_one_for_a_skipped_parent():
    from vtkit.align import Alignment
    from vtkit.predict import PARENT_MARGIN, parent_weight

    video = _video()
    weight = parent_weight(video, Alignment([(2, 7), None], 0.0, "dp"), 20)
    assert weight.shape == (3, 20)
    assert (weight[0, 2:8] == 1.0).all() and weight[0, 8] < 1.0 and weight[0, 7 + PARENT_MARGIN + 1] == 0.0
    assert (np.diff(weight[0, 7:]) <= 0).all()
    assert (weight[2] == 1.0).all()      # the second step was skipped: its substep is free


def test_parent_slots_cut_the_parent_segment_evenly_in_substep_order():
    from vtkit.align import Alignment
    from vtkit.predict import parent_slots

    slots = parent_slots(_video(), Alignment([(2, 7), None], 0.0, "dp"), 20)
    assert slots.shape == (3, 20)
    assert np.flatnonzero(slots[0]).tolist() == [2, 3, 4] and np.flatnonzero(slots[1]).tolist() == [5, 6, 7]
    assert not slots[2].any()            # the second step was skipped: no slot for its substep


def test_substep_prior_places_substeps_without_evidence_on_their_slots():
    S_steps, S_sub = _similarities()
    S_sub[:2] = 0.0                      # substeps 1 and 2 say nothing
    S_sub[:2, 12:18] = 0.2               # except a weak pull towards the second step
    st = AlignSettings(background="constant", background_value=0.1, substep_prior=1.0, substep_evidence=0.0)
    with_prior, _ = predict_queries(_video(), S_steps, S_sub, st, substep_mode="hierarchical", chunk_offset=5)
    without, _ = predict_queries(_video(), S_steps, S_sub, st.replace(substep_prior=0.0),
                                 substep_mode="hierarchical", chunk_offset=5)
    assert with_prior[1][0] == (14.0, 20.0) and with_prior[2][0] == (20.0, 26.0)   # chunks 2-4 and 5-7, + 5
    assert without[1][0] != (14.0, 20.0)


def test_substep_evidence_places_a_step_where_its_substeps_show():
    S_steps, S_sub = _similarities()
    S_steps[0] = 0.0                     # step 0's own text says nothing; its substeps (chunks 2-7) do
    S_sub[0, 4] = 1.0
    st = CONSTANT0.replace(background_value=0.5)
    alone, _ = predict_queries(_video(), S_steps, S_sub, st, substep_mode="video", chunk_offset=5)
    helped, _ = predict_queries(_video(), S_steps, S_sub, st.replace(substep_evidence=1.0), substep_mode="video",
                                chunk_offset=5)
    assert alone[0][0] != (14.0, 26.0)
    assert helped[0][0] == (14.0, 26.0)
    assert step_spans(_video(), (S_steps, S_sub, 5), st.replace(substep_evidence=1.0))[0][0] == (7, 12)


def test_zscored_queries_keep_a_text_close_to_every_chunk_from_taking_other_steps_chunks():
    S_steps, S_sub = _similarities()
    S_steps[0] += 1.5   # step 0's text sits closer to every chunk than step 1's
    raw, _ = predict_queries(_video(), S_steps, S_sub, CONSTANT0, substep_mode="video", chunk_offset=5)
    scaled, _ = predict_queries(_video(), S_steps, S_sub, CONSTANT0.replace(query_norm="zscore"),
                                substep_mode="video", chunk_offset=5)
    assert raw[0][0] == (10.0, 30.0)                       # up to step 1's window
    assert scaled[0][0] == (14.0, 26.0) and scaled[3][0] == (30.0, 42.0)   # the annotated windows
    shifted, _ = predict_queries(_video(), S_steps * 3.0 - 7.0, S_sub + 2.0, CONSTANT0.replace(query_norm="zscore"),
                                 substep_mode="hierarchical", chunk_offset=5)
    again, _ = predict_queries(_video(), S_steps, S_sub, CONSTANT0.replace(query_norm="zscore"),
                               substep_mode="hierarchical", chunk_offset=5)
    assert shifted == again                                # scale and shift of a row change nothing


def test_a_background_chosen_under_another_query_norm_is_refused_in_one_line():
    from vtkit.config import Config
    from vtkit.errors import VtkitError
    from vtkit.predict import apply_choices

    cfg = Config()
    assert apply_choices(cfg, {"background_value": 70.0, "query_norm": cfg.query_norm}).background_value == 70.0
    for recorded in ({"background_value": 70.0}, {"background_value": 70.0, "query_norm": "none"}):  # older: raw
        with pytest.raises(VtkitError, match="query_norm") as err:
            apply_choices(cfg, recorded)
        assert "query_norm=none" in str(err.value) and "\n" not in str(err.value)
        assert apply_choices(cfg.replace(query_norm="none"), recorded).background_value == 70.0
        assert apply_choices(cfg.replace(select_background=False), recorded).background_value == cfg.background_value


@pytest.mark.parametrize("mode", ["video", "parent", "hierarchical"])
def test_substeps_align_with_their_own_background_and_steps_keep_theirs(mode):
    S_steps, S_sub = _similarities()
    S_sub[:, :] = 0.5                    # substeps: weak everywhere, strong on their own chunks
    S_sub[0, 2:4] = S_sub[1, 5:8] = S_sub[2, 11:14] = 1.0
    tied, _ = predict_queries(_video(), S_steps, S_sub, CONSTANT0, substep_mode=mode, chunk_offset=5)
    own, _ = predict_queries(_video(), S_steps, S_sub, CONSTANT0.replace(substep_background_value=0.8),
                             substep_mode=mode, chunk_offset=5)
    assert [own[k] for k in (0, 3)] == [tied[k] for k in (0, 3)]           # the steps' alignment is untouched
    assert [tied[k][0] for k in (1, 2, 4)] != [own[k][0] for k in (1, 2, 4)]
    assert [own[k][0] for k in (1, 2, 4)] == [(14.0, 18.0), (20.0, 26.0), (32.0, 38.0)]   # only their chunks
    if mode == "video":                  # substeps alone: exactly the substeps of settings with that background
        alone, _ = predict_queries(_video(), S_steps, S_sub, CONSTANT0.replace(background_value=0.8),
                                   substep_mode=mode, chunk_offset=5)
        assert [own[k] for k in (1, 2, 4)] == [alone[k] for k in (1, 2, 4)]


def test_choices_carry_the_substeps_background_and_older_ones_tie_it_to_the_steps():
    from vtkit.config import Config
    from vtkit.predict import apply_choices

    cfg = Config()
    both = apply_choices(cfg, {"background_value": 60.0, "substep_background_value": 80.0,
                               "query_norm": cfg.query_norm})
    assert (both.background_value, both.substep_background_value) == (60.0, 80.0)
    older = apply_choices(cfg.replace(substep_background_value=90.0), {"background_value": 60.0,
                                                                       "query_norm": cfg.query_norm})
    assert (older.background_value, older.substep_background_value) == (60.0, None)
    fixed = apply_choices(cfg.replace(select_background=False, substep_background_value=90.0),
                          {"background_value": 60.0, "substep_background_value": 80.0, "query_norm": cfg.query_norm})
    assert (fixed.background_value, fixed.substep_background_value) == (cfg.background_value, 90.0)


def _repeated_video():
    """Steps 0 and 2 share a description; each has two substeps of its own; step 1 (2 chunks) lies between."""
    from vtkit.annotations import Query, Video

    video = Video("r", None, None, None, None)
    spans = [("step", None, "fry bread", 0, 20), ("substep", 0, "knead", 0, 10), ("substep", 0, "flip", 10, 20),
             ("step", None, "stir", 20, 24), ("step", None, "fry bread", 24, 40), ("substep", 4, "oil", 24, 32),
             ("substep", 4, "serve", 32, 40)]
    step_index = -1
    for i, (level, parent, text, start, end) in enumerate(spans):
        step_index += level == "step"
        video.queries.append(Query("r", video.annotation_uid, i, level, text, start, end, step_index, parent))
    return video


def _repeated_similarities():
    """Truth: step 0 = chunks 0-9 (substeps 0-4, 5-9), step 1 = 10-11, step 2 = 12-19 (12-15, 16-19)."""
    S_steps = np.full((3, 20), -0.5)
    S_steps[[0, 2], :10] = S_steps[[0, 2], 12:] = 0.5   # the same text: the same row
    S_steps[1, 10:12] = 0.1
    S_steps[1, 5:7] = 2.0                                  # the short step looks stronger inside step 0
    S_sub = np.full((4, 20), -1.0)
    for i, (s, e) in enumerate([(0, 5), (5, 10), (12, 16), (16, 20)]):
        S_sub[i, s:e] = 1.0
    return S_steps, S_sub


def test_joint_mode_places_repeated_steps_by_their_substeps():
    S_steps, S_sub = _repeated_similarities()
    joint, _ = predict_queries(_repeated_video(), S_steps, S_sub, CONSTANT0, substep_mode="joint")
    assert [joint[i][0] for i in (0, 3, 4)] == [(0.0, 20.0), (20.0, 24.0), (24.0, 40.0)]
    assert [joint[i][0] for i in (1, 2, 5, 6)] == [(0.0, 10.0), (10.0, 20.0), (24.0, 32.0), (32.0, 40.0)]
    alone, _ = predict_queries(_repeated_video(), S_steps, S_sub, CONSTANT0, substep_mode="hierarchical")
    assert alone[3][0] == (10.0, 14.0)     # aligned alone, the steps follow the misleading short step
    spans = step_spans(_repeated_video(), (S_steps, S_sub, 3), CONSTANT0, "joint")
    assert [s[0] for s in spans] == [(3, 12), (13, 14), (15, 22)]   # the explorer shows what is predicted


def _joint_reference(video, S_steps, S_sub, st):
    """The joint sequence built by hand: childless steps and substeps (own + parent score) in the video's order,
    one DP with the substeps' background; a parent spans its substeps."""
    from vtkit.align import align_dp, background_vector, query_scores, with_substep_evidence

    steps, subs = video.steps, video.substeps
    U = query_scores(S_sub, st.query_norm)
    children = [[i for i, c in enumerate(subs) if c.parent_query_idx == q.query_idx] for q in steps]
    Z = with_substep_evidence(query_scores(S_steps, st.query_norm), U, children, st.substep_evidence, st.query_norm)
    units, rows = [], []
    for k, q in enumerate(steps):
        if not children[k]:
            units.append(q.query_idx)
            rows.append(Z[k])
        for i in children[k]:
            units.append(subs[i].query_idx)
            rows.append(query_scores((U[i] + Z[k])[None], st.query_norm)[0])
    R = np.stack(rows)
    b = background_vector(R, st.background, st.for_substeps().background_value)
    top = dict(zip(units, align_dp(R, b, st.min_len, None, st.skip_penalty).segments))   # None: skipped
    for k, q in enumerate(steps):
        spans = [top[subs[i].query_idx] for i in children[k] if top[subs[i].query_idx] is not None]
        if spans:
            top[q.query_idx] = (min(s for s, _ in spans), max(e for _, e in spans))
    return top


@pytest.mark.parametrize("seed", range(5))
def test_joint_mode_matches_a_sequence_built_by_hand(seed):
    rng = np.random.default_rng(seed)
    video = _video()
    S_steps, S_sub = _similarities()
    S_steps, S_sub = S_steps + rng.normal(0, 0.8, S_steps.shape), S_sub + rng.normal(0, 0.8, S_sub.shape)
    st = AlignSettings(min_len=2, substep_background_value=60.0)
    out, _ = predict_queries(video, S_steps, S_sub, st, substep_mode="joint", chunk_seconds=2.0)
    top = _joint_reference(video, S_steps, S_sub, st)
    assert {i: w[0] for i, w in out.items()} == {i: (2.0 * s, 2.0 * (e + 1)) for i, (s, e) in top.items()}


@settings(max_examples=40, deadline=None)
@given(children=st.lists(st.integers(0, 3), min_size=1, max_size=5), n=st.integers(6, 30), seed=st.integers(0, 99),
       min_len=st.integers(1, 2))
def test_joint_mode_matches_the_hand_built_sequence_on_any_hierarchy(children, n, seed, min_len):
    """Any mix of steps with and without substeps, any length (relaxed where the queries do not fit)."""
    from vtkit.annotations import Query, Video

    video = Video("h", None, None, None, None)
    for k, count in enumerate(children):
        parent = len(video.queries)
        video.queries.append(Query("h", "h", parent, "step", f"s{k}", None, None, k))
        video.queries += [Query("h", "h", parent + 1 + j, "substep", f"s{k}.{j}", None, None, k, parent)
                          for j in range(count)]
    rng = np.random.default_rng(seed)
    S_steps, S_sub = rng.normal(size=(len(video.steps), n)), rng.normal(size=(len(video.substeps), n))
    settings_ = AlignSettings(min_len=min_len)
    out, _ = predict_queries(video, S_steps, S_sub if video.substeps else None, settings_, substep_mode="joint",
                             chunk_seconds=1.0)
    assert sorted(out) == [q.query_idx for q in video.queries] and all(len(w) == 5 for w in out.values())
    if not video.substeps:
        return
    relaxed = settings_.relaxed(len(video.queries) - len({q.parent_query_idx for q in video.substeps}), n)
    top = _joint_reference(video, S_steps, S_sub, relaxed)
    placed = {i: (float(s), float(e + 1)) for i, span in top.items() if span is not None for s, e in [span]}
    assert {i: out[i][0] for i in placed} == placed


@pytest.mark.parametrize("mode, short_step", [("joint", (10, 11)), ("hierarchical", (5, 6))])
def test_the_explorer_shows_the_steps_as_the_substep_mode_places_them(mode, short_step):
    from types import SimpleNamespace

    from vtkit.config import Config
    from vtkit.predict import explorer_callback

    video = _repeated_video()
    S_steps, S_sub = _repeated_similarities()
    cfg = Config.from_dict(dict(min_len=1, query_norm="none", substep_evidence=0.0, substep_mode=mode,
                                background="constant", background_value=0.0, substep_background_value=0.0))
    compute = explorer_callback(SimpleNamespace(video=lambda uid: video), {"r": (S_steps, S_sub, 0)}, cfg)
    data = compute("r", "dp", "constant", 0.0)   # the config's own values: what predict_queries gives
    assert data["segments"]["dp"][1] == short_step
    assert data["topk"][1][0] == short_step and data["fallback"] == {"dp": False}
    windows, _ = predict_queries(video, S_steps, S_sub, AlignSettings.from_config(cfg), substep_mode=mode)
    assert [(2.0 * s, 2.0 * (e + 1)) for s, e in data["segments"]["dp"]] == [windows[q.query_idx][0]
                                                                          for q in video.steps]


def test_the_explorer_moves_the_substeps_background_with_its_slider_in_joint_mode():
    from types import SimpleNamespace

    from vtkit.config import Config
    from vtkit.predict import explorer_callback

    video = _repeated_video()
    S_steps, S_sub = _repeated_similarities()
    base = dict(min_len=1, query_norm="none", substep_evidence=0.0, background="constant")
    sims = {"r": (S_steps, S_sub, 0)}
    shifted = explorer_callback(SimpleNamespace(video=lambda uid: video), sims,
                                Config.from_dict(dict(base, background_value=0.0, substep_background_value=0.5)))
    given = explorer_callback(SimpleNamespace(video=lambda uid: video), sims,
                              Config.from_dict(dict(base, background_value=2.5, substep_background_value=3.0)))
    assert shifted("r", "dp", "constant", 2.5)["segments"] == given("r", "dp", "constant", 2.5)["segments"]
    unshifted = explorer_callback(SimpleNamespace(video=lambda uid: video), sims,
                                  Config.from_dict(dict(base, background_value=2.5, substep_background_value=0.5)))
    assert unshifted("r", "dp", "constant", 2.5)["segments"] != given("r", "dp", "constant", 2.5)["segments"]


def test_a_parent_in_joint_mode_leads_with_its_span_then_distinct_alternatives_that_give_way_to_it():
    from vtkit.timeline import iou

    S_steps, S_sub = _repeated_similarities()
    out, _ = predict_queries(_repeated_video(), S_steps, S_sub, CONSTANT0, substep_mode="joint")
    for parent, span in ((0, (0.0, 20.0)), (4, (24.0, 40.0))):
        windows = out[parent]
        assert windows[0] == span
        assert len(windows) == 5 and len(set(windows)) == 5          # twice the alternatives: none repeated
        assert all(iou(w, span) <= CONSTANT0.iou_suppress for w in windows[1:])


def test_joint_mode_keeps_each_steps_own_bounds():
    S_steps, S_sub = _repeated_similarities()
    st = CONSTANT0.replace(min_len=np.array([1, 4, 1]))                # the short step must take 4 chunks
    out, _ = predict_queries(_repeated_video(), S_steps, S_sub, st, substep_mode="joint")
    start, end = out[3][0]
    assert end - start == 8.0


def test_joint_mode_with_the_unordered_aligner_places_each_query_by_its_own_scores():
    S_steps, S_sub = _repeated_similarities()
    st = CONSTANT0.replace(aligner="unordered")
    joint, _ = predict_queries(_repeated_video(), S_steps, S_sub, st, substep_mode="joint")
    video, _ = predict_queries(_repeated_video(), S_steps, S_sub, st, substep_mode="video")
    assert joint == video and joint[3][0] == (10.0, 14.0)


def test_joint_mode_aligns_a_substep_without_a_known_parent_by_its_own_scores():
    video = _repeated_video()
    video.queries[6].parent_query_idx = 99     # no such step
    S_steps, S_sub = _repeated_similarities()
    out, _ = predict_queries(video, S_steps, S_sub, CONSTANT0, substep_mode="joint")
    assert out[6][0] == (32.0, 40.0) and out[4][0] == (24.0, 32.0)   # the parent spans its one known substep


def test_joint_mode_falls_back_to_the_dp_when_the_dfs_runs_out_of_budget():
    rng = np.random.default_rng(0)
    S_steps, S_sub = _similarities()
    S_steps, S_sub = S_steps + rng.normal(0, 2.0, S_steps.shape), S_sub + rng.normal(0, 2.0, S_sub.shape)
    st = AlignSettings(aligner="dfs", node_budget=1)
    out, fell = predict_queries(_video(), S_steps, S_sub, st, substep_mode="joint", dfs_fallback=True)
    dp, _ = predict_queries(_video(), S_steps, S_sub, st.replace(aligner="dp"), substep_mode="joint")
    assert fell and out == dp
    assert step_spans(_video(), (S_steps, S_sub, 0), st, "joint") == \
        step_spans(_video(), (S_steps, S_sub, 0), st.replace(aligner="dp"), "joint")


@pytest.mark.parametrize("seed", range(3))
def test_every_mode_but_joint_places_the_steps_alike(seed):
    rng = np.random.default_rng(seed)
    S_steps, S_sub = (x + rng.normal(0, 0.7, x.shape) for x in _similarities())
    st = AlignSettings(min_len=2)
    steps = {mode: [predict_queries(_video(), S_steps, S_sub, st, substep_mode=mode)[0][i] for i in (0, 3)]
             for mode in ("hierarchical", "parent", "video")}
    assert steps["hierarchical"] == steps["parent"] == steps["video"]
