"""Grow a trained codec without changing what it computes: deeper (new residual blocks start as
identities) or wider (new feature channels start disconnected from the old ones).

The shipped models have 2 residual blocks in E1 and D1 where the paper has 15 (Sec. 3.1), and
their rate–quality curve is flat above 0.67 bpp, the mark of a transform that cannot use more
bits. Training a deeper model from scratch costs far more
than this workplace's machines give in a session. Instead the trained weights move into a
deeper model: every layer keeps its weights, and each added residual block
x + conv2(ReLU(conv1(x))) gets conv2 = 0, so it is the identity and the deeper model codes every
image bit for bit as the one it came from. Training then only has to learn what the new blocks
add (conv2 receives gradient at once; conv1 as soon as conv2 is non-zero), the same device as
the zero output projection of NonLocalBlock.

Widening (width of E1/D1, width2 of E2/D2; Net2WiderNet of Chen et al. 2016 in its zero-weight
form) copies every trained weight into the leading block of the wider tensor and sets to zero
the weights from new input channels to old output channels, so the old channels compute what
they did whatever the new ones hold; new output channels keep a fresh initialisation. Every
layer of the stacks is a convolution, a pointwise function, a residual sum, a max-pool or a
pixel shuffle, which keep channels apart (the shuffle maps conv outputs [4c, 4c+4) to channel
c, so the old ones stay a prefix), except the attention logits of NonLocalBlock, a sum over
the inner channels: there phi's new rows start at zero, so the new keys add nothing to them.
The zero blocks receive gradient at once (old errors times new activations).
"""
from __future__ import annotations

import torch
from torch import nn

from .codec import CodecConfig, SaliCodec
from .layers import ResidualBlock


DEPTHS = ("e1_blocks", "e2_blocks")  # residual blocks of E1/D1 and E2/D2
WIDTHS = ("width", "width2")  # feature widths of E1/D1 and E2/D2
GROWABLE = DEPTHS + WIDTHS


def growth_summary(source_cfg: CodecConfig, target_cfg: CodecConfig) -> str:
    """What growing source_cfg into target_cfg adds, naming only the parts that grow (a depth-only
    growth has no new channels, a width-only one no new blocks); for the trainer's log."""
    def grown(fields):
        return [getattr(source_cfg, f) for f in fields] != [getattr(target_cfg, f) for f in fields]

    def pair(cfg, fields):
        return " / ".join(str(getattr(cfg, f)) for f in fields)

    parts = []
    if grown(DEPTHS):
        parts.append(f"from {pair(source_cfg, DEPTHS)} to {pair(target_cfg, DEPTHS)} residual blocks "
                     "(E1/D1, E2/D2; the new blocks start as identities)")
    if grown(WIDTHS):
        parts.append(f"from widths {pair(source_cfg, WIDTHS)} to {pair(target_cfg, WIDTHS)} "
                     "(the new channels start disconnected)")
    return " and ".join(parts)


def _check_growth(source_cfg: CodecConfig, target_cfg: CodecConfig, fields: tuple[str, ...],
                  how: str) -> None:
    """Refuse a target that differs from the source outside `fields` or is smaller in one of them."""
    target = target_cfg.to_dict()
    diff = {k for k, v in source_cfg.to_dict().items() if target[k] != v}
    if not diff <= set(fields):
        raise ValueError(f"only {' and '.join(fields)} may differ, not {sorted(diff - set(fields))}")
    if any(getattr(target_cfg, k) < getattr(source_cfg, k) for k in fields):
        raise ValueError(f"a model can only be {how}")


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
    _check_growth(source_cfg, target_cfg, DEPTHS, "deepened, not made shallower")
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


def widen_state_dict(state: dict, source_cfg: CodecConfig, target_cfg: CodecConfig,
                     seed: int = 0) -> dict:
    """The weights of `state` (a model of source_cfg) for a model of target_cfg, which may differ
    from it only in wider E1/D1 (width) or E2/D2 (width2). The result codes every image as the
    source does (up to float rounding); new output channels are drawn with torch's default
    initialisation from `seed`."""
    _check_growth(source_cfg, target_cfg, WIDTHS, "widened, not made narrower")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        fresh = SaliCodec(target_cfg).state_dict()
    if set(fresh) != set(state):
        raise ValueError("the weights do not match their configuration")
    out = {}
    for name, new in fresh.items():
        old = state[name]
        if old.dim() != new.dim() or any(a > b for a, b in zip(old.shape, new.shape)):
            raise ValueError(f"{name}: {tuple(old.shape)} does not fit into {tuple(new.shape)}")
        new = new.clone()
        lead = tuple(slice(0, n) for n in old.shape)
        new[lead] = old.to(new.dtype)
        if new.dim() >= 2 and new.shape[1] > old.shape[1]:
            new[: old.shape[0], old.shape[1]:] = 0  # old outputs ignore the new inputs
        if ".phi." in name and new.shape[0] > old.shape[0]:
            new[old.shape[0]:] = 0  # new keys: zero, so q.k over the inner channels is unchanged
        out[name] = new
    return out


def grow_state_dict(state: dict, source_cfg: CodecConfig, target_cfg: CodecConfig,
                    seed: int = 0) -> dict:
    """Deepen (e1_blocks, e2_blocks) and widen (width, width2) in one go: the target may differ
    from the source in those four fields only, each the same or larger."""
    deeper = CodecConfig.from_dict({**source_cfg.to_dict(), **{k: getattr(target_cfg, k) for k in DEPTHS}})
    if deeper != source_cfg:
        state = deepen_state_dict(state, source_cfg, deeper, seed=seed)
    if deeper != target_cfg:
        state = widen_state_dict(state, deeper, target_cfg, seed=seed)
    return state
