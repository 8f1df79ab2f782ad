"""Deepen a trained codec without changing what it computes: new residual blocks start as identities.

The shipped models have 2 residual blocks in E1 and D1 where the paper has 15 (Sec. 3.1), and
their rate–quality curve is flat above 0.67 bpp, the mark of a transform that cannot use more
bits. Training a deeper model from scratch costs far more
than this workplace's machines give in a session. Instead the trained weights move into a
deeper model: every layer keeps its weights, and each added residual block
x + conv2(ReLU(conv1(x))) gets conv2 = 0, so it is the identity and the deeper model codes every
image bit for bit as the one it came from. Training then only has to learn what the new blocks
add (conv2 receives gradient at once; conv1 as soon as conv2 is non-zero), the same device as
the zero output projection of NonLocalBlock.
"""
from __future__ import annotations

import torch
from torch import nn

from .codec import CodecConfig, SaliCodec
from .layers import ResidualBlock


def _align(source: nn.Sequential, target: nn.Sequential) -> list[tuple[int, int | None]]:
    """Pairs (target index, source index or None for a new block), walking both stacks in order.

    A layer of the target matches the source's next layer of the same type; a ResidualBlock of
    the target with no such partner is new. Only residual blocks may be added."""
    pairs, i = [], 0
    for j, layer in enumerate(target):
        if i < len(source) and type(source[i]) is type(layer):
            pairs.append((j, i))
            i += 1
        elif isinstance(layer, ResidualBlock):
            pairs.append((j, None))
        else:
            raise ValueError(f"cannot grow {type(source[i]).__name__ if i < len(source) else 'the end'} "
                             f"into {type(layer).__name__}: only residual blocks can be added")
    if i != len(source):
        raise ValueError("the target has fewer layers than the source: a model can only be deepened")
    return pairs


def deepen_state_dict(state: dict, source_cfg: CodecConfig, target_cfg: CodecConfig,
                      seed: int = 0) -> dict:
    """The weights of `state` (a model of source_cfg) for a model of target_cfg, which may differ
    from it only in having more residual blocks in E1/D1 (e1_blocks) or E2/D2 (e2_blocks).

    The result codes every image exactly as the source does; conv1 of each new block is drawn
    with torch's default initialisation from `seed`, conv2 is zero."""
    target = target_cfg.to_dict()
    diff = {k for k, v in source_cfg.to_dict().items() if target[k] != v}
    if not diff <= {"e1_blocks", "e2_blocks"}:
        raise ValueError(f"only e1_blocks and e2_blocks may differ, not {sorted(diff - {'e1_blocks', 'e2_blocks'})}")
    if target_cfg.e1_blocks < source_cfg.e1_blocks or target_cfg.e2_blocks < source_cfg.e2_blocks:
        raise ValueError("a model can only be deepened, not made shallower")
    src = SaliCodec(source_cfg)
    src.load_state_dict(state)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        dst = SaliCodec(target_cfg)
    with torch.no_grad():
        for name, dst_part in dst.named_children():
            src_part = getattr(src, name)
            stacks = [(m_dst, getattr(src_part, attr)) for attr, m_dst in dst_part.named_children()
                      if isinstance(m_dst, nn.Sequential)]
            if not stacks:  # quantisers and context models: the same shapes
                dst_part.load_state_dict(src_part.state_dict())
                continue
            for stack_dst, stack_src in stacks:
                for j, i in _align(stack_src, stack_dst):
                    if i is None:
                        nn.init.zeros_(stack_dst[j].conv2.weight)
                        nn.init.zeros_(stack_dst[j].conv2.bias)
                    else:
                        stack_dst[j].load_state_dict(stack_src[i].state_dict())
    return dst.state_dict()
