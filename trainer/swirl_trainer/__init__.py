"""swirl's Python side: the embedded model files (models.py, `install-model`) and the
step-wise RL trainer (`step`, `serve`, `export-gguf`, `prepare-base`; see ../CONTRACT.md).

Modules: config (step.json / batch.jsonl validation), base (GGUF -> cached HF model),
packing (shared-prefix trie, tree attention masks, log-probs), objective (RLOO, k3 KL,
SFT), precision (fp32 / bf16 autocast, `auto`), step (one idempotent, atomic update; the Session
a persistent trainer keeps), gguf_adapter (llama.cpp LoRA GGUF),
commands (JSON-lines CLI), synth (trajectory-shaped batches from data/hotpotqa).
"""

__version__ = "0.1.0"
