"""Generate vtkit's synthetic sample data: GoalStep-format annotations plus per-chunk features.

Regenerate the committed ``data_samples/`` (deterministic: the same seed gives byte-identical files)::

    vtkit samples --out data_samples --seed 0 --train 8 --val 4
    python -m vtkit.samples --out data_samples          # same thing

What is written (``out_dir`` is replaced as a whole, atomically):

- ``videos/<video_uid>/chunk_<i>.pt``: float32 tensor ``[256]``, chunk ``i`` = seconds ``[2i, 2i + 2)``;
- ``goalstep_train.json``, ``goalstep_val.json``: the GoalStep annotation format (goal segment,
  steps with substeps, absolute seconds);
- ``goalstep_test_format.json``: the val videos in the test-split format (descriptions and
  segment counts, no times), to try test-style inference;
- ``README.md``: the statistics of what was generated.

Videos are sampled from a small hand-written vocabulary of household tasks (ordered steps, some
optional, some repeated, some with substeps). What a chunk shows is not worded like its query:
each step instance has a meaning that mixes the text embedding (default text encoder, rounded to
4 decimals) of a paraphrase of its description (content words only, some dropped, shuffled), the
embedding of its group name (shared by all steps of the group) and a random direction of its own;
inside a substep the substep's meaning is mixed in. Chunks outside every step show idle activity
(a shared idle meaning plus one per video). The meaning goes through a fixed hidden random map
``tanh(gain * W m + b)`` into a 256-d space, plus a per-video offset, AR(1) drift across chunks
and per-chunk noise. A linear map learned on train videos recovers the steps on val videos; an
untrained projection does not.
"""
from __future__ import annotations

import functools
import math
import os
import re
import shutil
import sys
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vtkit.annotations import OVERLAP_ISSUE, Annotations, load_annotations, summarize
from vtkit.errors import VtkitError
from vtkit.options import ArgumentParser, positive_float, positive_int
from vtkit.io import write_json, write_text
from vtkit.text import DEFAULT_TEXT_MODEL
from vtkit.timeline import DEFAULT_CHUNK_SECONDS, chunks_to_seconds, num_chunks

FEATURE_DIM = 256
TEXT_DIM = 384
DATE = "250101"

# Step duration ~ lognormal with mean 50 s; the median parameter is set below the target ~20 s because
# rescaling each video's durations to fill its goal segment pulls the median up (real val: 19.3 s / 52.8 s).
STEP_MEDIAN_S = 15.0
STEP_MEAN_S = 50.0
COVERAGE = (0.82, 0.88)          # fraction of the goal segment covered by steps
OVERLAP_PROB = 0.06              # a step starts a few seconds before the previous one ends
OPTIONAL_SKIP_PROB = 0.4
IRRELEVANT_PROB = 0.05
SUBSTEP_PROB = 0.9               # for a step whose vocabulary entry lists substeps
SUBSTEP_EXTRA_P = 0.4            # substeps per parent: 2 + Geometric(p) - 1 (mean 3.5; real val: median 3, mean 4.5)
SUBSTEP_MIN_S = 3.0              # room each substep needs in its parent

# Feature recipe (calibrated so a ridge map reaches roughly 0.6-0.7 chunk->step accuracy on val).
GAIN = 20.0
BIAS_STD = 0.3
VIDEO_OFFSET_STD = 0.4
DRIFT_STD = 0.5
DRIFT_RHO = 0.95
CHUNK_NOISE_STD = 0.9
SUBSTEP_MIX = 0.45               # weight of the substep's meaning inside a substep
PARAPHRASE_DROP = 0.2            # chance to drop each content word of a description in its paraphrase
GROUP_WEIGHT = 0.4               # weight of the group name's embedding in a step's meaning
INSTANCE_WEIGHT = 0.3            # weight of a step instance's own random direction
IDLE_VIDEO_WEIGHT = 0.6          # weight of the per-video part of the idle meaning
STOPWORDS = frozenset("a an the and or of to in on into onto from with for at by it its some".split())

# Vocabulary: one task per goal. A step line is "group|description|substep;substep;...";
# a leading "?" marks an optional step, "*" a step that tends to be repeated.
TASKS: dict[str, tuple[str, str]] = {
    "COOKING:MAKE_OMELET": ("make a cheese omelet", """
Prepare ingredients|take eggs from the fridge|open the fridge;pick out three eggs
Prepare ingredients|crack eggs into the bowl|tap the egg on the rim;pour the egg into the bowl;throw the shells away
Prepare ingredients|add salt and pepper|shake salt over the eggs;grind pepper over the eggs
Prepare ingredients|whisk the eggs with a fork|hold the bowl steady;beat the eggs quickly
Prepare ingredients|?chop the green onions|rinse the green onions;slice the onions thinly
Prepare ingredients|grate the cheese|unwrap the cheese block;grate cheese onto a plate
Cook on stove|place the pan on the stove|take the pan from the shelf;set the pan on the burner
Cook on stove|turn on the burner
Cook on stove|melt butter in the pan|cut a piece of butter;swirl butter around the pan
Cook on stove|pour the eggs into the pan
Cook on stove|*tilt the pan to spread eggs
Cook on stove|sprinkle cheese over the eggs
Cook on stove|?add the chopped onions
Cook on stove|fold the omelet in half|lift the edge with a spatula;fold the omelet over
Cook on stove|*flip the omelet
Serve|slide the omelet onto a plate|tilt the pan over the plate;push the omelet with the spatula
Serve|turn off the burner
Clean up|?rinse the bowl and fork|run water over the bowl;scrub the fork
"""),
    "COOKING:MAKE_PANCAKE": ("make pancakes", """
Prepare batter|measure flour into the bowl|scoop flour with a cup;level the cup with a knife
Prepare batter|add sugar and baking powder
Prepare batter|?add a pinch of salt
Prepare batter|crack eggs into the bowl|tap the egg on the rim;pour the egg into the bowl
Prepare batter|pour milk into the bowl|open the milk carton;measure the milk in a cup
Prepare batter|whisk the batter until smooth|stir the batter;scrape the sides of the bowl
Prepare batter|?let the batter rest
Cook on stove|heat the frying pan
Cook on stove|grease the pan with oil|pour a little oil;spread oil with a paper towel
Cook on stove|*pour batter into the pan|scoop batter with a ladle;pour batter in a circle
Cook on stove|*flip the pancake|slide the spatula under the pancake;turn the pancake over
Cook on stove|*move the pancake to the plate
Serve|stack the pancakes on a plate|lift a pancake with the spatula;place it on the stack
Serve|pour syrup over the pancakes
Serve|?add berries on top
Clean up|turn off the stove
"""),
    "COOKING:MAKE_SALAD": ("make a green salad", """
Prepare vegetables|take vegetables from the fridge
Prepare vegetables|wash the lettuce leaves|rinse leaves under the tap;shake water off the leaves
Prepare vegetables|dry the lettuce in a spinner
Prepare vegetables|tear the lettuce into pieces|remove the lettuce core;tear the leaves by hand
Prepare vegetables|*slice the cucumber|cut off the cucumber ends;cut the cucumber into rounds
Prepare vegetables|*cut the tomatoes into wedges|remove the tomato stem;cut the tomato in half;cut the halves into wedges
Prepare vegetables|?peel and slice the carrot|peel the carrot;slice the carrot thinly
Prepare vegetables|slice the red onion|peel the red onion;cut the onion into rings
Mix|put the vegetables in a large bowl
Make dressing|mix oil and vinegar|pour olive oil in a jar;add vinegar to the jar;shake the jar
Make dressing|season the dressing with salt
Mix|pour dressing over the salad
Mix|*toss the salad with tongs|lift the leaves with tongs;turn the salad over
Serve|?sprinkle cheese on the salad
Serve|serve the salad into bowls
"""),
    "COOKING:MAKE_PASTA": ("cook pasta with tomato sauce", """
Boil pasta|fill the pot with water|place the pot under the tap;carry the pot to the stove
Boil pasta|bring the water to a boil
Boil pasta|add salt to the water
Prepare sauce|*chop the onion|peel the onion;cut the onion in half;dice the onion
Prepare sauce|mince the garlic|peel the garlic cloves;crush garlic with the knife
Prepare sauce|heat oil in the saucepan
Prepare sauce|fry the onion and garlic|add the onion to the pan;stir with a wooden spoon
Prepare sauce|pour tomato sauce into the pan
Boil pasta|add pasta to the boiling water|open the pasta box;drop the pasta into the pot
Boil pasta|*stir the pasta in the pot|pick up the wooden spoon;separate stuck pasta
Prepare sauce|*stir the sauce
Prepare sauce|?add dried herbs to the sauce
Boil pasta|taste a piece of pasta
Boil pasta|drain the pasta in a colander|lift the pot off the stove;pour the pasta into the colander;shake the colander
Serve|mix the pasta with the sauce
Serve|plate the pasta|twirl pasta with tongs;spoon sauce on top
Serve|?grate cheese over the pasta
"""),
    "COOKING:MAKE_TEA": ("make a pot of tea", """
Boil water|fill the kettle with water|open the kettle lid;hold the kettle under the tap
Boil water|switch on the kettle
Prepare cups|take cups from the cupboard|open the cupboard door;set the cups on the tray
Prepare cups|rinse the teapot with hot water
Brew|put tea leaves in the teapot|open the tea tin;scoop tea with a spoon
Brew|pour boiling water into the teapot
Brew|?set a timer for the tea
Brew|let the tea steep
Prepare cups|?slice a lemon|wash the lemon;cut the lemon into slices
Serve|strain tea into the cups|hold the strainer over the cup;pour the tea slowly
Serve|*add milk to the tea|open the milk bottle;pour a splash of milk
Serve|*stir sugar into the tea
Clean up|empty the tea leaves into the bin
Clean up|rinse the teapot
Clean up|?wipe the counter dry
"""),
    "HOUSEHOLD:CLEAN_KITCHEN": ("clean the kitchen", """
Tidy up|clear dishes from the counter
Tidy up|put food back in the fridge
Wash dishes|fill the sink with soapy water|plug the sink;pour dish soap;run hot water
Wash dishes|*scrub the plates with a sponge|scrub the front of the plate;scrub the back of the plate
Wash dishes|*rinse the dishes under the tap|turn on the tap;rinse off the soap
Wash dishes|place dishes on the drying rack|stand plates in the rack;put cups upside down
Wash dishes|scrub the frying pan|scrape off burnt bits;scrub with steel wool
Clean surfaces|spray cleaner on the counter
Clean surfaces|*wipe the counter with a cloth|wring out the cloth;wipe crumbs into the hand
Clean surfaces|wipe the stove top|lift the burner grates;wipe under the grates
Clean surfaces|?clean inside the microwave
Clean surfaces|?wipe the fridge door
Clean floor|sweep the kitchen floor|sweep under the table;collect dust in the dustpan
Clean floor|mop the floor|dip the mop in the bucket;squeeze out the mop;mop under the table
Trash|tie up the trash bag
Trash|take out the trash
"""),
    "HOUSEHOLD:REPOT_PLANT": ("repot a houseplant", """
Prepare|spread newspaper on the table
Prepare|get a bigger pot|pick a pot from the shelf;check the drainage hole
Prepare|?put stones in the bottom of the pot
Prepare|add fresh soil to the new pot|open the soil bag;scoop soil with a trowel
Remove plant|water the plant lightly
Remove plant|turn the old pot upside down
Remove plant|pull the plant out gently|squeeze the old pot;hold the plant by the base
Remove plant|loosen the roots with fingers|untangle the root ball;shake off old soil
Remove plant|?trim the dead roots|find the dead roots;cut the roots with scissors
Repot|place the plant in the new pot
Repot|*fill soil around the roots|scoop soil with a trowel;pour soil around the plant
Repot|press the soil down|press soil around the stem;level the soil surface
Repot|water the repotted plant
Clean up|*remove dead leaves
Clean up|fold up the newspaper
Clean up|sweep up spilled soil
"""),
    "HOUSEHOLD:DO_LAUNDRY": ("do a load of laundry", """
Sort|empty the laundry basket
Sort|*sort clothes by color|pick out white shirts;put dark clothes aside
Sort|check the pockets
Wash|load clothes into the washer|open the washer door;push the clothes inside
Wash|pour detergent into the drawer|open the detergent bottle;fill the cap with detergent;pour detergent into the drawer
Wash|?add fabric softener
Wash|close the washer door
Wash|select the wash program|turn the dial;press the start button
Dry|unload the wet clothes
Dry|*hang shirts on hangers|shake out the shirt;put the shirt on a hanger
Dry|*pin socks on the line|take pegs from the bag;clip the socks to the line
Fold|*fold the dry towels|fold the towel in half;fold the towel again
Fold|fold the t-shirts|lay the shirt flat;fold in the sleeves;fold the shirt in half
Fold|?pair the socks
Fold|put clothes in the drawer
"""),
}

# Steps that can interrupt any task (is_relevant "irrelevant").
DISTRACTORS = ["check the phone", "wash hands at the sink", "talk to someone nearby",
               "drink some water", "wipe hands on a towel"]


@dataclass
class StepSpec:
    group: str
    description: str
    substeps: list[str] = field(default_factory=list)
    optional: bool = False
    repeated: bool = False
    irrelevant: bool = False

    @property
    def category(self) -> str:
        return f"{self.group}: {self.description[0].upper()}{self.description[1:]}"


def task_steps(goal_category: str) -> list[StepSpec]:
    """The ordered step vocabulary of one task."""
    steps = []
    for line in TASKS[goal_category][1].strip().splitlines():
        group, desc, *subs = line.split("|")
        flags = desc[: len(desc) - len(desc.lstrip("?*"))]
        steps.append(StepSpec(group, desc.lstrip("?*"), subs[0].split(";") if subs else [],
                              optional="?" in flags, repeated="*" in flags))
    return steps


# ----------------------------------------------------------------------------------------------
# text embeddings

@functools.lru_cache(maxsize=2)
def _backbone(text_model: str):
    from vtkit.text import load_text_backbone

    return load_text_backbone(text_model)


def encode_texts(texts: list[str], text_model: str = DEFAULT_TEXT_MODEL, decimals: int = 4) -> np.ndarray:
    """L2-normalised mean-pooled embeddings ``[len(texts), 384]`` (float64), rounded to ``decimals``.

    Each text is encoded on its own (no padding, CPU, no grad), so an embedding does not depend on
    which other texts are encoded; rounding absorbs tiny float differences between machines.
    """
    import torch

    from vtkit.text import mean_pool

    tokenizer, model = _backbone(text_model)
    out = np.zeros((len(texts), model.config.hidden_size))
    with torch.no_grad():
        for i, text in enumerate(texts):
            batch = tokenizer([text], return_tensors="pt")
            emb = mean_pool(model(**batch).last_hidden_state, batch["attention_mask"])[0].double()
            out[i] = (emb / emb.norm()).numpy()
    return np.round(out, decimals)


# ----------------------------------------------------------------------------------------------
# annotations

def _round(t: float) -> float:
    return round(float(t), 3)


def _video_uid(rng: np.random.Generator, grouped: bool) -> str:
    uid = str(uuid.UUID(bytes=rng.bytes(16), version=4))
    return f"grp-{uid}" if grouped else uid


def _step_sequence(task: str, n_steps: int, rng: np.random.Generator) -> list[StepSpec]:
    """Follow the task's order, skip some optional steps, repeat runs of repeated steps, add distractors,
    then thin out (keeping order) or repeat until there are ``n_steps`` steps."""
    vocab = task_steps(task)
    seq: list[StepSpec] = []
    i = 0
    while i < len(vocab):
        if vocab[i].repeated:                    # a run of repeated steps is done 2-3 times as a block
            j = i
            while j < len(vocab) and vocab[j].repeated:
                j += 1
            run = [s for s in vocab[i:j] if not (s.optional and rng.random() < OPTIONAL_SKIP_PROB)]
            seq += run * int(rng.integers(2, 4))
            i = j
            continue
        if not (vocab[i].optional and rng.random() < OPTIONAL_SKIP_PROB):
            seq.append(vocab[i])
        i += 1
    with_distractors = []
    for step in seq:
        if rng.random() < IRRELEVANT_PROB:
            with_distractors.append(StepSpec("Other", str(rng.choice(DISTRACTORS)), irrelevant=True))
        with_distractors.append(step)
    seq = with_distractors
    if len(seq) > n_steps:
        keep = np.sort(rng.choice(len(seq), size=n_steps, replace=False))
        seq = [seq[k] for k in keep]
    while len(seq) < n_steps:
        repeatable = [k for k, s in enumerate(seq) if s.repeated] or list(range(len(seq)))
        k = int(rng.choice(repeatable))
        seq.insert(k + 1, seq[k])
    return seq


def _entry(spec_category: str, description: str, start: float, end: float, *, continued: bool,
           procedural: bool, relevant: str) -> dict:
    return {"start_time": _round(start), "end_time": _round(end), "step_category": spec_category,
            "step_description": description, "is_continued": continued, "is_procedural": procedural,
            "is_relevant": relevant, "summary": []}


def _substeps(spec: StepSpec, start: float, end: float, rng: np.random.Generator) -> list[dict]:
    """Substeps in order; more than the vocabulary lists repeat its substeps in cycles (real parents do:
    peel, cut, peel, cut)."""
    k = min(1 + int(rng.geometric(SUBSTEP_EXTRA_P)), max(2, int((end - start) // SUBSTEP_MIN_S)))
    n = len(spec.substeps)
    if k <= n:
        chosen = [spec.substeps[j] for j in np.sort(rng.choice(n, size=k, replace=False))]
    else:
        chosen = [spec.substeps[j % n] for j in range(k)]
    span = end - start
    lengths = rng.dirichlet(np.full(k, 2.0)) * span * rng.uniform(0.7, 0.9)
    gaps = rng.dirichlet(np.ones(k + 1)) * (span - lengths.sum())
    subs, t = [], start + gaps[0]
    for j, desc in enumerate(chosen):
        s_end = t + lengths[j]
        if j == k - 1 and rng.random() < 0.05:   # now and then a substep runs past its parent step
            s_end = end + rng.uniform(1.0, 3.0)
        group = spec.group
        subs.append(_entry(f"{group}: {desc[0].upper()}{desc[1:]}", desc, t, s_end, continued=False,
                           procedural=True, relevant="essential"))
        t = s_end + gaps[j + 1]
    return subs


def _make_video(task: str, goal_seconds: float, late_start: bool, grouped: bool,
                rng: np.random.Generator) -> tuple[dict, float]:
    """One GoalStep video entry and the video's full duration in seconds."""
    uid = _video_uid(rng, grouped)
    goal_start = rng.uniform(30.0, 150.0) if late_start else rng.uniform(0.0, 0.1)
    goal_end = goal_start + goal_seconds
    duration = goal_end + rng.uniform(2.0, 40.0)
    coverage = rng.uniform(*COVERAGE)
    n_steps = max(2, int(round(coverage * goal_seconds / STEP_MEAN_S)))
    seq = _step_sequence(task, n_steps, rng)

    sigma = math.sqrt(2 * math.log(STEP_MEAN_S / STEP_MEDIAN_S))
    lengths = rng.lognormal(math.log(STEP_MEDIAN_S), sigma, size=n_steps)
    lengths = np.maximum(lengths / lengths.sum() * coverage * goal_seconds, 3.0)
    lengths *= min(1.0, 0.97 * goal_seconds / lengths.sum())
    gaps = rng.dirichlet(np.ones(n_steps + 1)) * (goal_seconds - lengths.sum())

    steps, seen, t, prev_end = [], set(), goal_start + gaps[0], None
    for i, spec in enumerate(seq):
        start, end = t, t + lengths[i]
        if prev_end is not None and rng.random() < OVERLAP_PROB:
            start = max(steps[-1]["start_time"] + 1.0, prev_end - rng.uniform(1.0, 6.0))
        repeat = spec.description in seen
        seen.add(spec.description)
        if spec.irrelevant:
            relevant = "irrelevant"
        elif spec.optional:
            relevant = "optional"
        else:
            relevant = "unsure" if rng.random() < 0.03 else "essential"
        entry = _entry(spec.category, spec.description, start, end,
                       continued=bool(repeat and rng.random() < 0.5), procedural=not spec.irrelevant,
                       relevant=relevant)
        has_subs = spec.substeps and end - start >= 8.0 and rng.random() < SUBSTEP_PROB
        entry["segments"] = _substeps(spec, start, end, rng) if has_subs else []
        steps.append(entry)
        prev_end = end
        t = end + gaps[i + 1]
    descriptions = list(dict.fromkeys(s["step_description"] for s in steps))
    video = {
        "video_uid": uid, "start_time": _round(goal_start), "end_time": _round(goal_end),
        "goal_category": task, "goal_description": TASKS[task][0], "goal_wikihow_url": "",
        "summary": descriptions[:6], "is_procedural": True, "segments": steps,
    }
    return video, duration


def _annotation_file(split: str, videos: list[dict]) -> dict:
    return {"version": "1.0", "date": DATE, "description": f"vtkit sample data ({split})",
            "split": split, "videos": videos}


def to_test_format(videos: list[dict]) -> dict:
    """The test-split view of ``videos``: each distinct query text (steps and substeps, in query
    order) with the number of segments it stands for; no times."""
    out = []
    for video in videos:
        counts: dict[str, int] = {}
        for step in video["segments"]:
            for q in [step, *step.get("segments", [])]:
                counts[q["step_description"]] = counts.get(q["step_description"], 0) + 1
        out.append({"video_uid": video["video_uid"],
                    "step_segments": [{"step_description": d, "segment_count": c} for d, c in counts.items()]})
    return {"version": "1.0", "date": DATE, "description": "vtkit sample data (test format)",
            "split": "test", "videos": out}


# ----------------------------------------------------------------------------------------------
# features

@dataclass
class HiddenMap:
    """The fixed map from text space (384-d) to feature space (256-d)."""
    weight: np.ndarray        # [256, 384], orthonormal rows
    bias: np.ndarray          # [256]
    background: np.ndarray    # [384], unit vector: the idle meaning all videos share

    @classmethod
    def from_rng(cls, rng: np.random.Generator, text_dim: int = TEXT_DIM, dim: int = FEATURE_DIM) -> "HiddenMap":
        q, _ = np.linalg.qr(rng.standard_normal((text_dim, dim)))
        bg = rng.standard_normal(text_dim)
        return cls(q.T, rng.normal(0.0, BIAS_STD, dim), bg / np.linalg.norm(bg))

    def __call__(self, content: np.ndarray) -> np.ndarray:
        return np.tanh(GAIN * content @ self.weight.T + self.bias)


def paraphrase(description: str, rng: np.random.Generator) -> str:
    """Another wording of ``description``: its content words, each dropped with :data:`PARAPHRASE_DROP`
    (at least one kept), in shuffled order."""
    words = [w for w in re.findall(r"[a-z]+", description.lower()) if w not in STOPWORDS] or [description]
    kept = [w for w in words if rng.random() >= PARAPHRASE_DROP] or words[:1]
    return " ".join(kept[i] for i in rng.permutation(len(kept)))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _group(category: str) -> str:
    return category.split(":", 1)[0]


def video_meanings(video: dict, rng: np.random.Generator) -> tuple[list[str], list[tuple[str, str, np.ndarray]]]:
    """``(texts to embed, one (paraphrase, group, own direction) per step and substep in annotation order)``."""
    out = []
    for step in video["segments"]:
        for seg in [step, *step.get("segments", [])]:
            own = _unit(rng.standard_normal(TEXT_DIM))
            out.append((paraphrase(seg["step_description"], rng), _group(seg["step_category"]), own))
    return sorted({t for p, g, _ in out for t in (p, g)}), out


def chunk_content(video: dict, n_chunks: int, meanings: list[np.ndarray], idle: np.ndarray,
                  chunk_seconds: float = DEFAULT_CHUNK_SECONDS) -> tuple[np.ndarray, np.ndarray]:
    """Per chunk: the meaning it shows ``[N, 384]`` (unit vectors) and the index of its step (``-1`` for
    idle background). ``meanings`` follow the steps and substeps in annotation order (a step, then its
    substeps). A chunk belongs to the step holding its centre (the later one where two overlap); inside
    a substep the substep's meaning is mixed in."""
    label = np.full(n_chunks, -1)
    sub_of = np.full(n_chunks, -1)
    starts, ends = chunks_to_seconds(np.arange(n_chunks), np.arange(n_chunks), chunk_seconds)
    centres = (starts + ends) / 2
    row, step_row = 0, []
    for k, step in enumerate(video["segments"]):
        step_row.append(row)
        inside = (centres >= step["start_time"]) & (centres < step["end_time"])
        label[inside] = k
        sub_of[inside] = -1
        for j, sub in enumerate(step.get("segments", [])):
            sub_of[inside & (centres >= sub["start_time"]) & (centres < sub["end_time"])] = row + 1 + j
        row += 1 + len(step.get("segments", []))
    content = np.tile(idle, (n_chunks, 1))
    for i in np.flatnonzero(label >= 0):
        c = meanings[step_row[label[i]]]
        if sub_of[i] >= 0:
            c = (1 - SUBSTEP_MIX) * c + SUBSTEP_MIX * meanings[sub_of[i]]
        content[i] = _unit(c)
    return content, label


def video_features(content: np.ndarray, hidden: HiddenMap, rng: np.random.Generator) -> np.ndarray:
    """float32 ``[N, 256]``: hidden map of the content plus a per-video offset, AR(1) drift across chunks
    and per-chunk noise."""
    n, d = len(content), hidden.weight.shape[0]
    signal = hidden(content)
    drift = np.zeros((n, d))
    state = rng.standard_normal(d)
    for i in range(n):
        state = DRIFT_RHO * state + math.sqrt(1 - DRIFT_RHO**2) * rng.standard_normal(d)
        drift[i] = state
    x = signal + rng.normal(0.0, VIDEO_OFFSET_STD, d) + DRIFT_STD * drift + rng.normal(0.0, CHUNK_NOISE_STD, (n, d))
    return x.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# learnability probe

def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float = 10.0) -> np.ndarray:
    """Least-squares map ``[D+1, E]`` (last row = bias) from ``x [N, D]`` to ``y [N, E]``."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    reg = alpha * np.eye(xb.shape[1])
    reg[-1, -1] = 0.0
    return np.linalg.solve(xb.T @ xb + reg, xb.T @ y)


def probe_scores(videos: list[tuple[np.ndarray, np.ndarray, list[str]]], emb: dict[str, np.ndarray],
                 weight: np.ndarray) -> dict[str, float]:
    """Score a linear map ``weight [D+1, E]`` on ``(features, step label per chunk, step descriptions)``.

    chunk_to_step: share of step chunks whose most similar description (among the video's distinct
    step descriptions) is their own; text_to_video_r1: share of distinct descriptions whose most
    similar chunk lies in a step with that description; chance: mean of 1 / (distinct descriptions).
    """
    hits, total, r1, queries, chance = 0, 0, 0, 0, []
    for x, label, descs in videos:
        names = list(dict.fromkeys(descs))
        t = np.stack([emb[d] for d in names])
        z = np.hstack([x, np.ones((len(x), 1))]) @ weight
        sim = (z / np.linalg.norm(z, axis=1, keepdims=True)) @ t.T            # [N, K]
        own = np.array([names.index(descs[k]) if k >= 0 else -1 for k in label])
        mask = own >= 0
        hits += int((sim[mask].argmax(1) == own[mask]).sum())
        total += int(mask.sum())
        r1 += int(sum(own[sim[:, j].argmax()] == j for j in range(len(names))))
        queries += len(names)
        chance.append(1.0 / len(names))
    return {"chunk_to_step": hits / max(total, 1), "text_to_video_r1": r1 / max(queries, 1),
            "chance": float(np.mean(chance))}


def learnability(train, val, emb: dict[str, np.ndarray], seed: int = 0) -> dict[str, dict[str, float]]:
    """Ridge map fitted on train step chunks vs an untrained random projection, both scored on val."""
    x = np.concatenate([f[lab >= 0] for f, lab, _ in train])
    y = np.concatenate([np.stack([emb[descs[k]] for k in lab[lab >= 0]]) for _, lab, descs in train])
    trained = ridge_fit(x.astype(np.float64), y)
    random = np.random.default_rng(seed).standard_normal(trained.shape)
    return {"trained": probe_scores(val, emb, trained), "random": probe_scores(val, emb, random)}


# ----------------------------------------------------------------------------------------------
# statistics and README

def annotation_stats(parts: list[Annotations]) -> dict[str, float]:
    """Counts and duration statistics of loaded annotation files, together (from :func:`summarize`)."""
    ann = Annotations(parts[0].path, None, None, [v for a in parts for v in a.videos], True,
                      sum((a.issues for a in parts), Counter()))
    s = summarize(ann)
    steps = [(v, q) for v in ann.videos for q in v.steps]
    return {
        "videos": s["videos"], "steps": s["steps"], "substeps": s["substeps"], "queries": s["queries"],
        "goal_hours": s["hours"],
        "step_mean_s": s["step_seconds"]["mean"], "step_median_s": s["step_seconds"]["median"],
        "substep_mean_s": s["substep_seconds"]["mean"], "substep_median_s": s["substep_seconds"]["median"],
        "steps_with_substeps": sum(bool(v.substeps_of(q)) for v, q in steps) / max(len(steps), 1),
        "coverage": s["step_coverage"], "overlapping_pairs": s["issues"].get(OVERLAP_ISSUE, 0),
        "repeated_query_share": s["queries_sharing_text_in_video"] / max(s["queries"], 1),
        "words_per_description": s["words_per_description"],
    }


def _readme(summary: dict, rows: list[dict], argv: str) -> str:
    s, p = summary["stats"], summary["learnability"]
    lines = [
        "# vtkit sample data",
        "",
        "Synthetic data in the Ego4D GoalStep layout, written by vtkit itself (no real video, no real",
        "annotation text). Regenerate it, byte for byte, with:",
        "",
        "```",
        f"vtkit samples {argv}",
        "```",
        "",
        "| path | what |",
        "|---|---|",
        "| `videos/<video_uid>/chunk_<i>.pt` | float32 tensor `[256]` per 2 s chunk (chunk `i` = seconds `[2i, 2i+2)`) |",
        "| `goalstep_train.json`, `goalstep_val.json` | GoalStep annotation format: goal segment, steps, substeps (absolute seconds) |",
        "| `goalstep_test_format.json` | the val videos in the test-split format (descriptions, segment counts, no times) |",
        "",
        "Each video follows one household task from a small hand-written vocabulary (ordered steps, some",
        "optional, some repeated, some with substeps, a few unrelated interruptions). What a chunk shows",
        "is not worded like its query: a step instance's meaning mixes the text embedding",
        f"({DEFAULT_TEXT_MODEL}) of a paraphrase of its description (content words, some dropped,",
        "shuffled), the embedding of its group name and a random direction of its own; a substep mixes",
        "its own meaning into its step's; chunks outside every step show idle activity (shared plus per",
        "video). A fixed hidden random map (`tanh` of a random projection) sends the meaning into a",
        "256-d space, plus a per-video offset, slow AR(1) drift and per-chunk noise. The text and video",
        "spaces differ, so the alignment has to be learned.",
        "",
        "## Statistics",
        "",
        "| | |",
        "|---|---|",
        f"| videos (train / val) | {s['videos']} ({summary['train_videos']} / {summary['val_videos']}) |",
        f"| chunks / video hours | {summary['chunks']} / {summary['video_hours']:.2f} |",
        f"| goal hours | {s['goal_hours']:.2f} |",
        f"| steps / substeps / queries | {s['steps']} / {s['substeps']} / {s['queries']} |",
        f"| step duration mean / median | {s['step_mean_s']:.1f} s / {s['step_median_s']:.1f} s |",
        f"| substep duration mean / median | {s['substep_mean_s']:.1f} s / {s['substep_median_s']:.1f} s |",
        f"| steps with substeps | {s['steps_with_substeps']:.0%} |",
        f"| goal time covered by steps | {s['coverage']:.0%} |",
        f"| overlapping consecutive steps | {s['overlapping_pairs']} |",
        f"| queries sharing their text with another query of the video | {s['repeated_query_share']:.0%} |",
        f"| words per description | {s['words_per_description']:.1f} |",
        f"| size on disk (sum of file sizes) | {summary['bytes'] / 1e6:.1f} MB |",
        "",
        "Learnability check on val (a ridge map from features to text embeddings fitted on the train",
        "step chunks, against an untrained random projection):",
        "",
        "| map | chunk -> step top-1 | text -> video R@1 | chance |",
        "|---|---|---|---|",
        *(f"| {name} | {p[name]['chunk_to_step']:.2f} | {p[name]['text_to_video_r1']:.2f} | {p[name]['chance']:.2f} |"
          for name in ("trained", "random")),
        "",
        "## Videos",
        "",
        "| split | video_uid | goal | goal segment (s) | video (s) | chunks | steps | substeps |",
        "|---|---|---|---|---|---|---|---|",
        *(f"| {r['split']} | `{r['video_uid']}` | {r['goal_category']} | {r['start_time']:.1f}-{r['end_time']:.1f} "
          f"| {r['duration']:.1f} | {r['chunks']} | {r['steps']} | {r['substeps']} |" for r in rows),
        "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# entry points

def generate_samples(out_dir: str | Path, seed: int = 0, n_train: int = 8, n_val: int = 4,
                     minutes: tuple[float, float] = (5.0, 15.0), text_model: str = DEFAULT_TEXT_MODEL,
                     chunk_seconds: float = DEFAULT_CHUNK_SECONDS, verbose: bool = False) -> dict:
    """Write the sample dataset into ``out_dir`` (replaced as a whole) and return its summary.

    Goal lengths are spread evenly over ``minutes`` (one video gets 1.5x the upper bound).
    Val videos reuse the train videos' tasks. Same arguments -> byte-identical files.
    """
    import torch

    if n_train < 1 or n_val < 1:
        raise VtkitError("need at least one train and one val video", field="n_train/n_val")
    lo, hi = minutes
    if not 0 < lo <= hi:
        raise VtkitError(f"minutes must satisfy 0 < low <= high, got {minutes}", field="minutes")
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    hidden = HiddenMap.from_rng(np.random.default_rng([seed, 1]))
    noise_rng = np.random.default_rng([seed, 2])

    n_total = n_train + n_val
    tasks = list(TASKS)
    train_tasks = [tasks[i] for i in rng.permutation(len(tasks))][: min(n_train, len(tasks))]
    video_tasks = [train_tasks[i % len(train_tasks)] for i in range(n_train)]
    val_order = rng.permutation(len(train_tasks))
    video_tasks += [train_tasks[val_order[i % len(train_tasks)]] for i in range(n_val)]
    goal_minutes = rng.permutation(np.linspace(lo, hi, n_total))
    goal_minutes[int(np.argmax(goal_minutes))] = 1.5 * hi
    splits = ["train"] * n_train + ["val"] * n_val

    videos, durations = [], []
    for i in range(n_total):
        video, duration = _make_video(video_tasks[i], float(goal_minutes[i]) * 60.0, late_start=i % 3 == 1,
                                      grouped=i == min(2, n_train - 1), rng=rng)
        videos.append(video)
        durations.append(duration)

    texts = sorted({q["step_description"] for v in videos for s in v["segments"] for q in [s, *s["segments"]]})
    meaning_rng = np.random.default_rng([seed, 3])
    parts = [video_meanings(v, meaning_rng) for v in videos]
    idles = [_unit(hidden.background + IDLE_VIDEO_WEIGHT * _unit(meaning_rng.standard_normal(TEXT_DIM)))
             for _ in videos]
    every = sorted(set(texts).union(*(t for t, _ in parts)))
    emb = dict(zip(every, encode_texts(every, text_model)))
    meanings = [[_unit(emb[p] + GROUP_WEIGHT * emb[g] + INSTANCE_WEIGHT * own) for p, g, own in segs]
                for _, segs in parts]

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        probe_sets: dict[str, list] = {"train": [], "val": []}
        rows, n_chunks_total = [], 0
        for video, duration, split, meaning, idle in zip(videos, durations, splits, meanings, idles):
            n = num_chunks(duration, chunk_seconds)
            content, label = chunk_content(video, n, meaning, idle, chunk_seconds)
            feats = video_features(content, hidden, noise_rng)
            folder = tmp / "videos" / video["video_uid"]
            folder.mkdir(parents=True)
            for i in range(n):
                torch.save(torch.from_numpy(feats[i].copy()), folder / f"chunk_{i}.pt")
            probe_sets[split].append((feats, label, [s["step_description"] for s in video["segments"]]))
            n_chunks_total += n
            rows.append({"split": split, "video_uid": video["video_uid"], "goal_category": video["goal_category"],
                         "start_time": video["start_time"], "end_time": video["end_time"], "duration": duration,
                         "chunks": n, "steps": len(video["segments"]),
                         "substeps": sum(len(s["segments"]) for s in video["segments"])})
            if verbose:
                print(f"{split:5s} {video['video_uid']}  {n} chunks", file=sys.stderr)
        write_json(tmp / "goalstep_train.json", _annotation_file("train", videos[:n_train]))
        write_json(tmp / "goalstep_val.json", _annotation_file("val", videos[n_train:]))
        write_json(tmp / "goalstep_test_format.json", to_test_format(videos[n_train:]))
        summary = {
            "out_dir": str(out_dir), "seed": seed, "train_videos": n_train, "val_videos": n_val,
            "chunks": n_chunks_total, "video_hours": sum(durations) / 3600,
            "stats": annotation_stats([load_annotations(tmp / f"goalstep_{s}.json") for s in ("train", "val")]), "learnability": learnability(probe_sets["train"], probe_sets["val"], emb, seed),
            "videos": rows,
        }
        argv = f"--out {out_dir.name} --seed {seed} --train {n_train} --val {n_val}"
        if tuple(minutes) != (5.0, 15.0):
            argv += f" --minutes {lo:g} {hi:g}"
        summary["bytes"] = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
        readme = _readme(summary, rows, argv)
        write_text(tmp / "README.md", readme)
        summary["bytes"] += len(readme.encode())
        _swap_in(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return summary


def _swap_in(tmp: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` by ``tmp`` with two renames (the old folder is removed afterwards)."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old)


def cli_samples(argv: list[str]) -> int:
    parser = ArgumentParser(prog="vtkit samples", description="Regenerate the synthetic sample data "
                                     "(GoalStep-format annotations + per-chunk features); deterministic per seed.")
    parser.add_argument("--out", default="data_samples", help="output folder, replaced as a whole (default data_samples)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=positive_int, default=8, help="train videos (default 8)")
    parser.add_argument("--val", type=positive_int, default=4, help="val videos (default 4)")
    parser.add_argument("--minutes", type=positive_float, nargs=2, default=(5.0, 15.0), metavar=("LOW", "HIGH"),
                        help="range of goal-segment lengths in minutes (default 5 15)")
    parser.add_argument("--text-model", default=DEFAULT_TEXT_MODEL)
    args = parser.parse_args(argv)
    summary = generate_samples(args.out, seed=args.seed, n_train=args.train, n_val=args.val,
                               minutes=tuple(args.minutes), text_model=args.text_model)
    s, p = summary["stats"], summary["learnability"]
    print(f"wrote {args.out}: {s['videos']} videos, {summary['chunks']} chunks ({summary['video_hours']:.2f} h), "
          f"{s['steps']} steps, {s['substeps']} substeps, {summary['bytes'] / 1e6:.1f} MB")
    print(f"steps: mean {s['step_mean_s']:.1f} s, median {s['step_median_s']:.1f} s, coverage {s['coverage']:.2f}, "
          f"{s['overlapping_pairs']} overlaps, {s['repeated_query_share']:.0%} repeated query texts")
    print(f"probe on val: chunk->step {p['trained']['chunk_to_step']:.2f} trained vs "
          f"{p['random']['chunk_to_step']:.2f} random (chance {p['trained']['chance']:.2f}); "
          f"text->video R@1 {p['trained']['text_to_video_r1']:.2f} vs {p['random']['text_to_video_r1']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_samples(sys.argv[1:]))
