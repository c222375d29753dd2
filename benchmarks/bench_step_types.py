"""How each listed step's task type is chosen, measured on the same steps for every chooser.

    .venv/bin/python benchmarks/bench_step_types.py record OUT.jsonl [--controller PATH.gguf] [--suite] [--demos N]
    .venv/bin/python benchmarks/bench_step_types.py score OUT.jsonl [--planner-only]
    .venv/bin/python benchmarks/bench_step_types.py demos
    .venv/bin/python benchmarks/bench_step_types.py ablate OUT.jsonl SUITE_OUT.jsonl

`record` lists the steps of every TaskBench dev request with the controller (the planner's own
prompt, demos and step filter, raw and filtered), once, so that `score` compares choosers on
identical steps: the classifier alone, classifier + chain search, the chain search on steps
filtered without the story sentences, the listing with the clauses it left out added, and the
request's clauses alone (core/planning/clauses.py), and the planner's own path for the listing
(`Planner.request_steps`), each clause threshold cross-validated: every
fold scored with the threshold best on the other four. It prints node and link F1 of the chosen
types (links read from the data flow: each task fed by the nearest earlier output it can take)
for the whole file and per fold (`fold_of`, 5 folds). `demos` cross-validates the classifier's C
and the chain search's bonus on the project's own demos (5 folds of demos), never on benchmark
data: the way core/planning/step_types.py's settings were chosen. With `--suite`, `record` lists
the product suite's requests (tests/data/product_requests.json) and `score` counts those whose
task types the planner's own path gets exactly right. `ablate` switches each piece of the
planner's step reading off alone and prints both (README, Planning quality: each piece's gain).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.settings import Settings  # noqa: E402
from app.wiring import controller_path, demo_embedder, planner_for  # noqa: E402
from core.plan import FILE_NAME  # noqa: E402
from core.planning import clauses, step_filter, step_types  # noqa: E402
from core.planning.data_flow import data_flow_links  # noqa: E402
from core.planning.evaluation.harness import fold_of  # noqa: E402
from core.planning.evaluation.metrics import score  # noqa: E402
from core.planning.evaluation.names import ToolNames  # noqa: E402
from core.planning.evaluation.taskbench import Graph, load_samples, load_tools  # noqa: E402
from core.planning.prompting import demo_pool, step_wordings  # noqa: E402
from core.llm.controller import ChatResult  # noqa: E402
from core.planning.planner import Planner  # noqa: E402
from core.tasks import PLANNABLE_TASK_TYPES, TASK_TYPES  # noqa: E402

DATA = ROOT.parent / "shared" / "eval" / "taskbench_hf_dev.jsonl"
SUITE = ROOT / "tests" / "data" / "product_requests.json"
FOLDS = 5


def record(out: Path, controller: str | None, suite: bool = False, demos: int | None = None) -> None:
    """Each request's listing by the controller, raw, beside what `score` needs to score it;
    `demos`: listed with that many nearest demos instead of the planner's own number."""
    from core.llm.controller import LlamaController, LlamaSettings
    from core.planning.planner import MAX_TASKS, STEPS_SCHEMA

    settings = Settings.load()
    llm = LlamaController(LlamaSettings(path=controller_path(settings, controller), n_ctx=settings.n_ctx))
    if suite:  # the product suite's requests, listed with the app's own task types
        planner = planner_for(settings)(llm, steps="listed")
        rows = json.loads(SUITE.read_text(encoding="utf-8"))["requests"]
    else:
        names = ToolNames(load_tools(DATA.with_name("tool_desc.json")))
        planner = planner_for(settings)(llm, task_types=names.task_types(), steps="listed")
        rows = [{"id": sample.id, "request": sample.instruction, "gold_nodes": list(sample.gold.nodes),
                 "gold_links": [list(link) for link in sample.gold.links]}
                for sample in load_samples(DATA, names)[0]]
    with out.open("w", encoding="utf-8") as handle:
        for row in rows:
            chosen = planner.demos.pick(row["request"], demos, {t.name for t in planner.task_types}) if demos else None
            reply = llm.chat(planner.step_messages(row["request"], row.get("history") or [], chosen),
                             schema=STEPS_SCHEMA, max_tokens=40 * MAX_TASKS)
            raw = reply.json()["steps"]
            handle.write(json.dumps({**row, "raw": raw}) + "\n")
            print(f"{row['request'][:60]!r}: {raw}", file=sys.stderr, flush=True)


THRESHOLDS = (0.1, 0.15, 0.2, 0.3, 0.4, 0.5)


class RecordedListing:
    """A controller that answers the planner's listing prompt with a recorded listing."""

    name = "recorded"

    def __init__(self) -> None:
        self.listing: list[str] = []

    def chat(self, messages, **_options) -> ChatResult:
        return ChatResult(json.dumps({"steps": self.listing}), "stop")


def planner_steps(planner: Planner, row: dict, attached: list[str]) -> tuple[list[str], list[str]]:
    """The planner's own steps and their types for a recorded listing (Planner.request_steps)."""
    planner.controller.listing = row["raw"]
    known = list(dict.fromkeys([*attached, *FILE_NAME.findall(row["request"])]))
    steps, rankings = planner.request_steps(row["request"], row.get("history") or [], known, attached=attached)
    return steps, [ranked[0] for ranked in rankings or [] if ranked]


def suite_misses(rows: list[dict], embed, mode: str = "listed") -> list[tuple[str, list[str]]]:
    """The suite's requests whose task types the planner's `mode` path gets wrong, with its types."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_product_requests import holds

    planner = Planner(RecordedListing(), embed=embed, steps=mode)
    return [(row["request"], types) for row in rows
            for _, types in [planner_steps(planner, row, row["files"])] if not holds(row["types"], types)]


def score_suite(rows: list[dict]) -> None:
    missed = suite_misses(rows, demo_embedder(Settings.load()))
    print(f"product suite, the planner's steps for the recorded listings: {len(rows) - len(missed)} of {len(rows)}")
    for request, types in missed:
        print(f"  missed {request!r}: {types}")


def fold_scores(rows: list[dict], names: ToolNames, choose, keep=None):
    """Node and link F1 (whole file, then per fold) of the types `choose` gives the steps `keep`
    reads; `keep` None: `choose` reads a row (row, files -> types) itself."""
    pairs = []
    for row in rows:
        files = FILE_NAME.findall(row["request"])
        if keep is None:
            types = list(dict.fromkeys(choose(row, files)))
        else:
            steps = keep(row, files)
            types = list(dict.fromkeys(choose(steps, files))) if steps else []
        tools = [names.tool(t) for t in types]
        links = tuple(dict.fromkeys((tools[a], tools[b]) for a, b in data_flow_links(types)))
        gold = Graph(tuple(row["gold_nodes"]), tuple(tuple(link) for link in row["gold_links"]))
        pairs.append((fold_of(row["id"], FOLDS), gold, Graph(tuple(tools), links)))
    whole = score([(g, p) for _, g, p in pairs], names.tools)
    return whole, [score([(g, p) for f, g, p in pairs if f == k], names.tools) for k in range(FOLDS)]


def show(label, whole, folds):
    node = [100 * f["node_f1"] for f in folds]
    link = [100 * f["link_f1"] for f in folds]
    print(f"{label:40} node {100 * whole['node_f1']:.1f} link {100 * whole['link_f1']:.1f} | per fold: node "
          + " ".join(f"{v:.1f}" for v in node) + f" (mean {statistics.mean(node):.1f}), link "
          + " ".join(f"{v:.1f}" for v in link) + f" (mean {statistics.mean(link):.1f})", flush=True)


def score_choosers(path: Path, planner_only: bool = False) -> None:
    rows = _rows(path)
    if rows and "types" in rows[0]:
        return score_suite(rows)
    names = ToolNames(load_tools(DATA.with_name("tool_desc.json")))
    allowed = {t.name for t in names.task_types()}
    embed = demo_embedder(Settings.load())
    planner = Planner(RecordedListing(), embed=embed, steps="listed", task_types=names.task_types())

    def chain(steps, files):
        return [ranked[0] for ranked in step_types.rank_step_types(embed, steps, allowed, files)]

    def classifier(steps, files):
        return [max(s, key=s.get) for s in step_types.type_scores(embed, steps, allowed)]

    def listed(row, files):
        telling = step_filter.telling_sentences(embed, row["request"], allowed)
        return step_filter.grounded_steps(row["raw"], row["request"], telling)[:6]

    def checked_listing(row, files, tau):
        """The planner's listing path: the request's clauses when nothing listed is from the
        request, else the listing, then the clauses it left out."""
        steps, still_listed = clauses.checked_listing(embed, listed(row, files), row["request"], allowed)
        if not still_listed:
            return steps[:6]
        return clauses.with_missing_clauses(embed, steps[:6], row["request"], allowed, files, tau)[:6]

    def learned_filter(row, files):
        """Grounding by words, and a listed step the classifier reads as none left out."""
        steps = step_filter.grounded_steps(row["raw"], row["request"])
        kept = [step for step, (name, _) in zip(steps, step_types.clause_types(embed, steps, allowed))
                if name != step_types.NOT_A_STEP]
        return (kept or steps)[:6]

    def anchored_filter(row, files):
        """Grounding by words, and a step dropped when the request's clause it stands at (the one
        sharing most of its words, file names aside) is one the classifier reads as asking for
        nothing: the user's story judged on the user's words, not the listing's."""
        steps = step_filter.grounded_steps(row["raw"], row["request"])
        parts = clauses.request_clauses(row["request"])
        kinds = [name for name, _ in step_types.clause_types(embed, parts, allowed)]
        kept = []
        for step in steps:
            own = FILE_NAME.sub(" ", step)
            overlaps = [clauses._overlap(own, FILE_NAME.sub(" ", part)) for part in parts]
            if not overlaps or max(overlaps) == 0 or kinds[overlaps.index(max(overlaps))] != step_types.NOT_A_STEP:
                kept.append(step)
        return (kept or steps)[:6]


    choosers = {"classifier": (classifier, listed),
                "chain search, clause-anchored none": (chain, anchored_filter),
                "classifier + chain search": (chain, listed),
                "chain search, no story sentences": (chain, lambda row, files: step_filter.grounded_steps(row["raw"], row["request"])[:6]),
                "chain search, none class for the rules": (chain, learned_filter)}
    families = {"listing + missing clauses": {}, "listing checked and split + missing clauses": {},
                "clause-anchored listing + missing clauses": {}, "clauses only": {}}
    for tau in THRESHOLDS:
        families["listing + missing clauses"][tau] = (chain, lambda row, files, tau=tau: clauses.with_missing_clauses(
            embed, listed(row, files), row["request"], allowed, files, tau)[:6])
        families["listing checked and split + missing clauses"][tau] = (
            chain, lambda row, files, tau=tau: checked_listing(row, files, tau))
        families["clause-anchored listing + missing clauses"][tau] = (
            chain, lambda row, files, tau=tau: clauses.with_missing_clauses(
                embed, anchored_filter(row, files), row["request"], allowed, files, tau)[:6])
        families["clauses only"][tau] = (chain, lambda row, files, tau=tau: (
            clauses.clause_steps(embed, row["request"], allowed, tau) or listed(row, files))[:6])

    # the planner's own paths (Planner.request_steps): the listing checked, voted, the missing
    # clauses added, repeats joined, tasks between inserted; and the default controller's
    # clauses (the recorded listing only where no clause asks for a task)
    clause_planner = Planner(RecordedListing(), embed=embed, steps="clauses", task_types=names.task_types())
    show("the planner's steps (now)", *fold_scores(rows, names, lambda row, files: planner_steps(planner, row, [])[1]))
    show("the planner's clause steps (now)",
         *fold_scores(rows, names, lambda row, files: planner_steps(clause_planner, row, [])[1]))
    if planner_only:
        return
    for label, (choose, keep) in choosers.items():
        show(label, *fold_scores(rows, names, choose, keep))
    for family, variants in families.items():
        measured = {tau: fold_scores(rows, names, *chooser) for tau, chooser in variants.items()}
        for tau, (whole, folds) in measured.items():
            show(f"{family}, threshold {tau}", whole, folds)
        # Cross-validated: each fold is scored with the threshold best on the other folds.
        chosen, held_out = [], []
        for k in range(FOLDS):
            def on_others(tau):
                return sum(f["node_f1"] + f["link_f1"] for j, f in enumerate(measured[tau][1]) if j != k)
            best = max(THRESHOLDS, key=on_others)
            chosen.append(best)
            held_out.append(measured[best][1][k])
        node = [100 * f["node_f1"] for f in held_out]
        link = [100 * f["link_f1"] for f in held_out]
        print(f"{family}, threshold chosen on the other folds ({' '.join(map(str, chosen))}): node "
              + " ".join(f"{v:.1f}" for v in node) + f" (mean {statistics.mean(node):.1f}, "
              f"{min(node):.1f} to {max(node):.1f}), link " + " ".join(f"{v:.1f}" for v in link)
              + f" (mean {statistics.mean(link):.1f}, {min(link):.1f} to {max(link):.1f})")


def ablate(steps_path: Path, suite_path: Path) -> None:
    """Each piece of the planner's step reading switched off alone, on recorded listings: held-out
    folds of the dev file (listing path, and the clause path that lists only when no clause asks)
    and the product suite's exact task types. Pieces are switched off by replacing the module
    function that does the job with one that passes the steps through (a benchmark's patch,
    undone after each row of the table)."""
    import re

    from core.planning import planner as planner_module

    rows = _rows(steps_path)
    suite = _rows(suite_path)
    names = ToolNames(load_tools(DATA.with_name("tool_desc.json")))
    embed = demo_embedder(Settings.load())

    def passed_through(embed, steps, *_args, **_options):
        return steps

    pieces = {
        "nothing (the planner now)": {},
        "story filter (past tense, telling sentence)": {(step_filter, "narrated"): lambda *_: False},
        "first-person filter": {(step_filter, "_NARRATION"): re.compile(r"(?!)")},
        "grounding filter": {(step_filter, "grounded"): lambda *_: True},
        "clauses for an ungrounded listing": {(clauses, "grounded"): lambda *_: True},
        "vote of step and clause": {(planner_module, "voted_steps"): passed_through},
        "clauses the listing left out": {(planner_module, "with_missing_clauses"): passed_through},
        "joined repeats": {(planner_module, "joined_repeats"): passed_through},
        "task between": {(planner_module, "bridged"): lambda embed, steps, rankings, *_a, **_k: (steps, rankings)},
        "clauses for attached files": {(planner_module, "with_clauses_for_attached"): passed_through},
    }
    for label, patches in pieces.items():
        saved = {key: getattr(*key) for key in patches}
        for (module, name), value in patches.items():
            setattr(module, name, value)
        try:
            counts = []
            for mode in ("listed", "clauses"):
                counts.append(len(suite) - len(suite_misses(suite, embed, mode)))
                planner = Planner(RecordedListing(), embed=embed, steps=mode, task_types=names.task_types())
                show(f"off: {label}, {mode}",
                     *fold_scores(rows, names, lambda row, files: planner_steps(planner, row, [])[1]))
            print(f"off: {label}: product suite {counts[0]} of {len(suite)} listed, {counts[1]} from the clauses",
                  flush=True)
        finally:
            for (module, name), value in saved.items():
                setattr(module, name, value)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cross_validate_on_demos() -> None:
    from sklearn.linear_model import LogisticRegression

    embed = demo_embedder(Settings.load())
    demos = list(demo_pool())
    allowed = {t.name for t in PLANNABLE_TASK_TYPES}
    fixed = [(w, n) for n, ws in step_wordings().items() for w in ws] + [(t.description, t.name) for t in TASK_TYPES]
    fixed_vectors = embed([text for text, _ in fixed])
    steps = [task["step"] for demo in demos for task in demo["tasks"]]
    vectors = dict(zip(steps, embed(steps)))
    for c in (1.0, 4.0, 16.0):
        for bonus in (0.0, 0.5, 1.0, 2.0):
            right = total = whole = 0
            for k in range(FOLDS):
                train = [(t["step"], t["task"]) for i, d in enumerate(demos) if i % FOLDS != k for t in d["tasks"]]
                model = LogisticRegression(C=c, max_iter=3000).fit(
                    list(fixed_vectors) + [vectors[s] for s, _ in train], [n for _, n in fixed] + [n for _, n in train])
                for demo in demos[k::FOLDS]:
                    rows = model.predict_log_proba([vectors[t["step"]] for t in demo["tasks"]])
                    scores = [{str(n): float(p) for n, p in zip(model.classes_, row) if n in allowed} for row in rows]
                    saved, step_types.FEED_BONUS = step_types.FEED_BONUS, bonus
                    try:
                        got = step_types.best_chain(scores, FILE_NAME.findall(demo["request"]))
                    finally:
                        step_types.FEED_BONUS = saved
                    gold = [t["task"] for t in demo["tasks"]]
                    right += sum(a == b for a, b in zip(got, gold))
                    total += len(gold)
                    whole += got == gold
            print(f"C {c:4}  bonus {bonus:3}: steps right {right}/{total} ({100 * right / total:.1f}%), "
                  f"whole plans {whole}/{len(demos)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("out", type=Path)
    rec.add_argument("--controller")
    rec.add_argument("--suite", action="store_true", help="list the product suite's requests instead")
    rec.add_argument("--demos", type=int, help="list with this many nearest demos (the planner's own: 2)")
    scorer = sub.add_parser("score")
    scorer.add_argument("steps", type=Path)
    scorer.add_argument("--planner-only", action="store_true", help="only the planner's own paths (quick)")
    sub.add_parser("demos")
    ablation = sub.add_parser("ablate", help="each piece of the step reading switched off alone")
    ablation.add_argument("steps", type=Path, help="dev listings written by `record`")
    ablation.add_argument("suite", type=Path, help="suite listings written by `record --suite`")
    args = parser.parse_args()
    if args.command == "record":
        record(args.out, args.controller, args.suite, args.demos)
    elif args.command == "score":
        score_choosers(args.steps, args.planner_only)
    elif args.command == "ablate":
        ablate(args.steps, args.suite)
    else:
        cross_validate_on_demos()


if __name__ == "__main__":
    main()
