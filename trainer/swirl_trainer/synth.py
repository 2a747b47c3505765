"""Trajectory-shaped training batches synthesized from data/hotpotqa (for the bench and tests).

Each trajectory is a SWiRL episode in the step protocol (agents/protocol.ts):
an instruction turn, then model turns with one <search_query> each, the
article coming back as a user turn "QUERY -> ARTICLE", and a final <answer>.
State k is the conversation rendered up to model turn k (Gemma turn markers,
ending with an open model turn); its G actions are the stored action plus G-1
variants (other queries/answers), with 0/1 rewards drawn from a seeded RNG.
These are not model samples: the sampler's text would differ, the shapes
(shared prefixes, G branches per state, tool outputs inside states) do not.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

INSTRUCTION = (
    "Answer the following question.\n"
    "You can use a search engine. To search, write one query between <search_query> and </search_query>, "
    "for example <search_query>capital of Australia</search_query>. The best matching article comes back in the "
    'next message as "capital of Australia -> ARTICLE". You may search up to {n} times before answering; '
    "do not repeat a query you already made.\n"
    "Think step by step. In each turn, either use a tool or give the final answer, never both. When you know the "
    "answer, write it in just a few words between <answer> and </answer>, for example <answer>72</answer>.\n\n"
    "Question: {q}"
)


def render_gemma(turns: list[tuple[str, str]]) -> str:
    body = "".join(f"<start_of_turn>{'model' if r == 'assistant' else 'user'}\n{c}<end_of_turn>\n" for r, c in turns)
    return body + "<start_of_turn>model\n"


def load_hotpot(root: Path, n: int) -> tuple[list[dict], dict[str, dict]]:
    qs = []
    with (root / "questions.jsonl").open() as f:
        for line in f:
            qs.append(json.loads(line))
            if len(qs) >= n:
                break
    want = {cid for q in qs for cid in q.get("context_ids", [])}
    corpus = {}
    with (root / "corpus.jsonl").open() as f:
        for line in f:
            d = json.loads(line)
            if d["id"] in want:
                corpus[d["id"]] = d
    return qs, corpus


def make_batch(data_root: Path, n_questions: int, steps: int, g: int, seed: int = 0, article_words: int = 90) -> list[dict]:
    rng = random.Random(seed)
    qs, corpus = load_hotpot(data_root, n_questions)
    rows = []
    for q in qs:
        docs = [corpus[c] for c in q.get("context_ids", []) if c in corpus] or [{"title": q["question"][:30], "text": ""}]
        turns: list[tuple[str, str]] = [("user", INSTRUCTION.format(n=steps, q=q["question"]))]
        for k in range(steps + 1):
            final = k == steps
            doc = docs[k % len(docs)]
            if final:
                stored = f"I have what I need.\n<answer>{q['answer']}</answer>"
                variants = [f"<answer>{w}</answer>" for w in ("yes", "no", docs[0]["title"], "unknown", "1990")]
            else:
                stored = f"I should look up {doc['title']}.\n<search_query>{doc['title']}</search_query>"
                variants = [f"Let me search for this.\n<search_query>{d['title']} {w}</search_query>"
                            for d in docs for w in ("", "history", "born")]
            acts = [stored] + rng.sample(variants, min(g - 1, len(variants)))
            while len(acts) < g:
                acts.append(acts[-1] + " ")
            rows.append({
                "stateId": f"{q['id']}:{k}", "trajectoryId": q["id"], "prompt": render_gemma(turns),
                "actions": [{"text": a, "reward": float(rng.random() < 0.5)} for a in acts],
            })
            if not final:
                article = " ".join(doc["text"].split()[:article_words])
                turns += [("assistant", stored), ("user", f"{doc['title']} -> {article}")]
    return rows


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
