"""The SWiRL objective (swirl-method.md §4) on per-token log-probs.

For a state with G sampled actions a_1..a_G and rewards r_1..r_G:

  A_j   = r_j - mean(r_{-j})                    (RLOO; `none`: A_j = r_j)
  k3_t  = exp(ref_t - logp_t) - (ref_t - logp_t) - 1   per action token (KL to the frozen initial policy)
  loss  = (1/N) * sum_j [ -A_j * sum_t logp_{j,t} + beta * sum_t k3_{j,t} ]

N = number of actions in the whole batch, so one update is the mean over
actions of the REINFORCE estimate of grad J = E[R grad log pi(a|s)] (the
sequence log-prob is the sum over its tokens) plus the per-token KL penalty.
`stored-actions` uses the same loss with the stored action and A = its reward.
`sft` is the mean NLL over all action tokens of the batch.

Off-policy correction (`importanceClip` c > 0, for actions that carry the sampler's per-token
log-probs q): the sampler (llama.cpp, quantized weights, its own sampling settings) is not
exactly the policy scored here, so each token's term is reweighted by the truncated importance
ratio w_t = min(exp(logp_t - q_t), c), held constant (no gradient through w):

  -A_j * sum_t w_{j,t} * logp_{j,t}

w = 1 everywhere gives back the plain loss exactly. The KL term is not reweighted.
Only action tokens enter the loss: prompt tokens (the state, including tool
outputs) are never gathered.
"""

from __future__ import annotations

from typing import Sequence

import torch


def rloo_advantages(rewards: Sequence[float]) -> list[float]:
    g = len(rewards)
    if g < 2:
        raise ValueError("RLOO needs at least 2 samples")
    if all(r == rewards[0] for r in rewards):
        # Exactly 0, not float noise such as 1.4e-17 for three 0.1s: Adam normalizes by the
        # gradient's size, so a noise advantage would still move the adapter a full step.
        return [0.0] * g
    total = sum(rewards)
    return [r - (total - r) / (g - 1) for r in rewards]


def advantages(rewards: Sequence[float], baseline: str) -> list[float]:
    return rloo_advantages(rewards) if baseline == "rloo" else [float(r) for r in rewards]


def k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(pi || ref) from samples of pi: exp(d) - d - 1 with d = ref - logp (>= 0)."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


def importance_ratios(logp: torch.Tensor, sampler_logp: torch.Tensor) -> torch.Tensor:
    """Raw per-token ratios pi_train / pi_sampler = exp(logp - q), detached (may be inf for huge gaps)."""
    return torch.exp(logp.detach() - sampler_logp)


def importance_weights(logp: torch.Tensor, sampler_logp: torch.Tensor, clip: float) -> torch.Tensor:
    """Truncated importance weights min(exp(logp - q), clip), detached: constants of the loss."""
    return importance_ratios(logp, sampler_logp).clamp(max=clip)


def action_loss(logp: torch.Tensor, ref_logp: torch.Tensor | None, advantage: float, beta: float, n_actions: int,
                weights: torch.Tensor | None = None) -> torch.Tensor:
    """The policy-gradient + KL loss of one action, already divided by the batch's action count.
    `weights` (per token, detached) scale the policy-gradient term only; None = all 1."""
    loss = -advantage * (logp.sum() if weights is None else (weights.detach() * logp).sum())
    if beta and ref_logp is not None:
        loss = loss + beta * k3(logp, ref_logp).sum()
    return loss / n_actions


def sft_loss(logp: torch.Tensor, n_tokens: int) -> torch.Tensor:
    return -logp.sum() / n_tokens
