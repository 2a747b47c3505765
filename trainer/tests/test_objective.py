"""The loss against hand-computed values, and what is masked."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import char_tokenizer
from swirl_trainer.config import Action, State
from swirl_trainer.objective import action_loss, advantages, importance_ratios, importance_weights, k3, rloo_advantages, sft_loss
from swirl_trainer.packing import Seq, batch_unpacked, pack
from swirl_trainer.step import tokenize_state


def test_rloo_advantages_by_hand():
    # r = [1, 0, 0, 1]: A_0 = 1 - (0+0+1)/3, A_1 = 0 - (1+0+1)/3, ...
    assert rloo_advantages([1, 0, 0, 1]) == pytest.approx([2 / 3, -2 / 3, -2 / 3, 2 / 3])
    assert rloo_advantages([0.5, 0.25]) == pytest.approx([0.25, -0.25])
    assert rloo_advantages([1, 1, 1]) == pytest.approx([0, 0, 0])  # no signal when all agree
    # exactly 0, not float noise (0.1+0.1+0.1 - 0.1 is not 0.2): Adam would turn noise into a full step
    assert rloo_advantages([0.1, 0.1, 0.1]) == [0.0, 0.0, 0.0]
    assert rloo_advantages([0.7, 0.7]) == [0.0, 0.0]
    assert sum(rloo_advantages([0.3, 0.9, 0.1, 0.4])) == pytest.approx(0)
    assert advantages([1, 0], "none") == [1.0, 0.0]
    with pytest.raises(ValueError):
        rloo_advantages([1.0])


def test_k3_by_hand():
    logp = torch.log(torch.tensor([0.5, 0.2, 0.3]))
    ref = torch.log(torch.tensor([0.25, 0.2, 0.6]))
    # d = ref - logp: log(0.5), 0, log(2) -> exp(d) - d - 1
    want = [0.5 - math.log(0.5) - 1, 0.0, 2 - math.log(2) - 1]
    assert k3(logp, ref).tolist() == pytest.approx(want, abs=1e-6)
    assert (k3(logp, ref) >= 0).all()


def test_action_loss_value_and_gradient_by_hand():
    logp = torch.log(torch.tensor([0.5, 0.2])).requires_grad_()
    ref = torch.log(torch.tensor([0.25, 0.4]))
    a, beta, n = 0.75, 0.1, 3
    loss = action_loss(logp, ref, a, beta, n)
    d = (ref - logp).detach()
    want = (-a * logp.detach().sum() + beta * (torch.exp(d) - d - 1).sum()) / n
    assert loss.item() == pytest.approx(want.item(), abs=1e-6)
    loss.backward()
    # d/dlogp [-a*logp + beta*(exp(ref-logp) - (ref-logp) - 1)] = -a + beta*(1 - exp(ref-logp))
    assert logp.grad.tolist() == pytest.approx(((-a + beta * (1 - torch.exp(d))) / n).tolist(), abs=1e-6)
    assert action_loss(logp, None, a, 0.0, n).item() == pytest.approx(-a * logp.detach().sum().item() / n)
    assert sft_loss(logp, 4).item() == pytest.approx(-logp.detach().sum().item() / 4)


def test_only_action_tokens_are_gathered():
    """State tokens, including a tool result inside the state, never enter the loss."""
    tok = char_tokenizer()
    tool = "2+3 -> 5"
    prompt = f"<start_of_turn>user\nQ<end_of_turn>\n<start_of_turn>model\n<math_exp>2+3</math_exp><end_of_turn>\n<start_of_turn>user\n{tool}<end_of_turn>\n<start_of_turn>model\n"
    st = State("s", "t", prompt, (Action("<answer>5</answer>", 1.0), Action("<answer>7</answer>", 0.0)))
    p, acts = tokenize_state(tok, True, st)
    seqs = [Seq((0, i), p, a) for i, a in enumerate(acts)]
    from transformers import LlamaConfig

    for unit in (pack(seqs, LlamaConfig()), batch_unpacked(seqs, 0)):
        g = unit.gather
        assert len(g.targets) == sum(len(a) for a in acts)
        for s in seqs:
            a, b = g.spans[s.key]
            assert g.targets[a:b] == s.action
        if unit.position_ids.shape[0] == 1:  # packed: every gathered row is the parent of an action node
            depths = unit.position_ids[0, torch.tensor(g.cols)].tolist()
            assert min(depths) == len(p) - 1
        else:
            assert min(g.cols) == len(p) - 1  # first prediction reads the last prompt token, nothing earlier


def test_tokenization_is_prompt_then_action_with_one_bos():
    tok = char_tokenizer()
    st = State("s", "t", "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n", (Action("<answer>x</answer>", 1),))
    p, (a,) = tokenize_state(tok, True, st)
    specials = tok.convert_tokens_to_ids(["<bos>", "<start_of_turn>", "<end_of_turn>"])
    assert p[0] == specials[0] and p[1] == specials[1] and p.count(specials[0]) == 1  # markers parsed as single tokens
    assert specials[2] in p and len(p) == 1 + 1 + len("user\nhi") + 1 + 1 + 1 + len("model\n")
    assert a == tok("<answer>x</answer>", add_special_tokens=False).input_ids and specials[0] not in a
    # a prompt that already starts with BOS gets no second one; a model without BOS gets none
    p2, _ = tokenize_state(tok, True, State("s", "t", "<bos>" + st.prompt, st.actions))
    assert p2 == p
    p3, _ = tokenize_state(tok, False, st)
    assert p3 == p[1:]


def test_importance_weights_of_one_give_the_plain_loss_exactly():
    logp = torch.log(torch.tensor([0.5, 0.2, 0.7]))
    ref = torch.log(torch.tensor([0.25, 0.4, 0.6]))
    w = importance_weights(logp, logp.clone(), clip=2.0)  # sampler == trainer
    assert w.tolist() == [1.0, 1.0, 1.0]
    a = logp.clone().requires_grad_()
    b = logp.clone().requires_grad_()
    plain = action_loss(a, ref, 0.75, 0.1, 3)
    weighted = action_loss(b, ref, 0.75, 0.1, 3, w)
    assert weighted.item() == plain.item()  # bit for bit
    plain.backward()
    weighted.backward()
    assert torch.equal(a.grad, b.grad)


def test_importance_weights_are_truncated_and_detached():
    logp = torch.log(torch.tensor([0.5, 0.2, 0.9])).requires_grad_()
    q = torch.log(torch.tensor([0.25, 0.4, 0.09]))  # ratios 2, 0.5, 10
    assert importance_ratios(logp, q).tolist() == pytest.approx([2.0, 0.5, 10.0], rel=1e-5)
    w = importance_weights(logp, q, clip=3.0)
    assert w.tolist() == pytest.approx([2.0, 0.5, 3.0], rel=1e-5)  # 10 capped at the clip
    assert not w.requires_grad
    # a sampler token far less likely than here (huge ratio, even inf in fp32) is capped too
    assert importance_weights(torch.tensor([0.0]), torch.tensor([-200.0]), clip=1.5).tolist() == [1.5]


def test_importance_weighted_loss_value_and_gradient_by_hand():
    logp = torch.log(torch.tensor([0.5, 0.2, 0.9])).requires_grad_()
    q = torch.log(torch.tensor([0.25, 0.4, 0.09]))
    ref = torch.log(torch.tensor([0.4, 0.3, 0.8]))
    a, beta, n, clip = -0.5, 0.1, 4, 3.0
    w = importance_weights(logp, q, clip)
    loss = action_loss(logp, ref, a, beta, n, w)
    x = logp.detach()
    d = ref - x
    want = (-a * (w * x).sum() + beta * (torch.exp(d) - d - 1).sum()) / n
    assert loss.item() == pytest.approx(want.item(), abs=1e-6)
    loss.backward()
    # w is a constant: d/dlogp_t = (-a * w_t + beta * (1 - exp(ref_t - logp_t))) / n; the KL term is not reweighted
    assert logp.grad.tolist() == pytest.approx(((-a * w + beta * (1 - torch.exp(d))) / n).tolist(), abs=1e-6)
    # finite differences agree (weights held fixed, as the update holds them)
    eps = 1e-3
    for t in range(3):
        up, dn = x.clone(), x.clone()
        up[t] += eps
        dn[t] -= eps
        num = (action_loss(up, ref, a, beta, n, w) - action_loss(dn, ref, a, beta, n, w)).item() / (2 * eps)
        assert logp.grad[t].item() == pytest.approx(num, rel=1e-2, abs=1e-4)
