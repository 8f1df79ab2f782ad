"""A tiny configuration trains: the loss falls, and a resumed run continues exactly."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from salicodec.errors import SalicodecError
from salicodec.training.loop import TrainConfig, Trainer
from tests.conftest import TINY, photo


@pytest.fixture()
def image_dir(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(4):
        Image.fromarray(photo(96, 112, seed=i)).save(d / f"img{i}.png")
    return d


def tiny_config(image_dir) -> TrainConfig:
    return TrainConfig.from_dict({
        "name": "tiny", "codec": TINY.to_dict(), "data": [str(image_dir)], "crop": 64, "batch_size": 4,
        "use_saliency": False, "steps": 1000, "lr": 2e-3, "log_every": 5, "checkpoint_minutes": 100.0,
        "loss": {"target_bpp": 0.3, "dpl_weight": 0.0},
    })


def test_loss_falls(image_dir, tmp_path):
    torch.set_num_threads(1)
    tr = Trainer(tiny_config(image_dir), tmp_path / "run", device="cpu", log=lambda *_: None)
    sampler = tr.make_sampler()
    losses, dist = [], []
    for _ in range(40):
        x, s = sampler.batch(4, tr.cfg.seed, tr.step)
        t = tr.train_step(x, s)
        losses.append(t["loss"])
        dist.append(t["distortion"])
    # The total has a constant floor (the clipped rate, max(t, R) >= t = 0.3): test both.
    assert np.mean(losses[-8:]) < np.mean(losses[:8]) - 0.08
    assert np.mean(dist[-8:]) < 0.8 * np.mean(dist[:8])


def test_a_run_stopped_by_its_time_budget_logs_where_it_ended(image_dir, tmp_path):
    """The budget ends between two log steps (log_every 1000): the last step is still in
    log.csv, so a short chunk on a slow machine leaves a log (and the checkpoint's step)."""
    import csv

    torch.set_num_threads(1)
    d = tiny_config(image_dir).to_dict()
    d["log_every"] = 1000
    tr = Trainer(TrainConfig.from_dict(d), tmp_path / "run", device="cpu", log=lambda *_: None)
    tr.run(tr.make_sampler(), time_budget_min=0.05)
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert 0 < tr.step < 1000 and [int(r["step"]) for r in rows] == [tr.step]
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == tr.step


def test_resume_continues_exactly(image_dir, tmp_path):
    torch.set_num_threads(1)
    cfg = tiny_config(image_dir)
    a = Trainer(cfg, tmp_path / "a", device="cpu", log=lambda *_: None)
    a.run(a.make_sampler(), max_steps=6)
    b = Trainer(cfg, tmp_path / "b", device="cpu", log=lambda *_: None)
    b.run(b.make_sampler(), max_steps=3)
    c = Trainer(cfg, tmp_path / "c", device="cpu", log=lambda *_: None)
    c.resume(tmp_path / "b" / "last.pt")
    assert c.step == 3
    c.run(c.make_sampler(), max_steps=3)
    sa, sc = a.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sc[k]) for k in sa)
    assert (tmp_path / "a" / "log.csv").read_text().count("\n") >= 2


def test_refuses_evaluation_images(tmp_path, kodak_dir):
    d = tmp_path / "leak"
    d.mkdir()
    (d / "renamed.png").write_bytes((kodak_dir / "kodim01.png").read_bytes())
    cfg = TrainConfig.from_dict({"data": [str(d)], "crop": 64, "use_saliency": False})
    tr = Trainer(cfg, tmp_path / "r", device="cpu", log=lambda *_: None)
    with pytest.raises(SalicodecError, match="evaluation image"):
        tr.make_sampler()


def test_unknown_config_key(tmp_path):
    with pytest.raises(SalicodecError, match="unknown"):
        TrainConfig.from_dict({"bogus": 1})


def test_a_half_light_checkpoint_starts_a_run_with_the_rounded_weights(image_dir, tmp_path):
    """checkpoints/ keeps runs as fp16 light checkpoints: no optimiser state, and init_from gives
    back exactly the fp16-rounded weights in fp32."""
    from salicodec.training.parallel import light_checkpoint

    torch.set_num_threads(1)
    src = Trainer(tiny_config(image_dir), tmp_path / "src", device="cpu", log=lambda *_: None)
    src.run(src.make_sampler(), max_steps=2)
    light_checkpoint(tmp_path / "src" / "last.pt", tmp_path / "light.pt", half=True)
    light = torch.load(tmp_path / "light.pt", weights_only=True)
    assert set(light) == {"config", "state_dict", "step"} and light["step"] == 2
    assert all(v.dtype == torch.float16 for v in light["state_dict"].values() if v.is_floating_point())
    d = tiny_config(image_dir).to_dict()
    d["init_from"] = str(tmp_path / "light.pt")
    dst = Trainer(TrainConfig.from_dict(d), tmp_path / "dst", device="cpu", log=lambda *_: None)
    s, t = src.model.state_dict(), dst.model.state_dict()
    floats = [k for k in s if s[k].is_floating_point()]
    assert floats and all(t[k].dtype == torch.float32 and torch.equal(t[k], s[k].half().float()) for k in floats)
    assert any(not torch.equal(s[k], t[k]) for k in floats)  # the rounding did happen


def test_init_from_a_different_configuration_copies_what_is_shared(image_dir, tmp_path):
    """The single-level ablation starts from a hierarchical model: E1/D1 are copied, the rest is fresh."""
    torch.set_num_threads(1)
    src = Trainer(tiny_config(image_dir), tmp_path / "src", device="cpu", log=lambda *_: None)
    src.run(src.make_sampler(), max_steps=2)
    d = tiny_config(image_dir).to_dict()
    d["codec"]["hierarchical"] = False
    d["init_from"] = str(tmp_path / "src" / "last.pt")
    messages = []
    dst = Trainer(TrainConfig.from_dict(d), tmp_path / "dst", device="cpu", log=messages.append)
    s, t = src.model.state_dict(), dst.model.state_dict()
    assert all(torch.equal(s[k], t[k]) for k in t if k.startswith(("e1.", "d1.", "q1.")))
    assert not any(k.startswith(("e2.", "ctx_z.")) for k in t)
    assert len(messages) == 1 and "not used (ctx_y.cond" in messages[0] and "0 keep their initial" in messages[0]


def test_rate_term_one_sided_and_two_sided():
    """Sec. 3.5: alpha * max(t, R) costs nothing below t; the two-sided variant pulls a rate below
    t back up with the same slope as it pushes one above t down."""
    import torch

    from salicodec.training.losses import LossConfig, codec_loss

    x = torch.rand(2, 3, 16, 16)
    pixels = 16 * 16

    def rate_grad(bpp: float, two_sided: bool) -> tuple[float, float]:
        bits = torch.tensor([bpp * pixels, bpp * pixels], requires_grad=True)
        out = {"bits_y": bits, "bits_z": torch.zeros(2), "x_hat": x.clone(), "mse_y_d2": torch.tensor(0.0)}
        cfg = LossConfig(target_bpp=0.5, rate_weight=2.0, rate_two_sided=two_sided)
        t = codec_loss(out, x, None, cfg)
        t["loss"].backward()
        return float(t["rate"]), float(bits.grad.sum() * pixels)

    assert rate_grad(0.3, False) == (pytest.approx(0.5), 0.0)
    assert rate_grad(0.7, False) == (pytest.approx(0.7), pytest.approx(2.0))
    assert rate_grad(0.7, True) == (pytest.approx(0.7), pytest.approx(2.0))
    assert rate_grad(0.3, True) == (pytest.approx(0.7), pytest.approx(-2.0))


def test_parallel_runs_two_configs_in_two_lr_phases(image_dir, tmp_path):
    """salicodec.training.parallel: both configs train, phase B resumes at lr x decay, and the
    exported light checkpoints (no optimiser state) load into the codec."""
    import json
    import tarfile

    from salicodec.models.codec import CodecConfig, SaliCodec
    from salicodec.training import parallel

    configs = []
    for name in ("p1", "p2"):
        d = tiny_config(image_dir).to_dict()
        d["name"] = name
        configs.append(tmp_path / f"{name}.json")
        configs[-1].write_text(json.dumps(d))
    export = tmp_path / "export"
    rc = parallel.main([*map(str, configs), "--runs", str(tmp_path / "runs"), "--minutes", "0.8",
                        "--decay-at", "0.1", "--decay", "0.2", "--export", str(export)])
    assert rc == 0
    for name in ("p1", "p2"):
        run = tmp_path / "runs" / name
        assert json.loads((run / "phaseB.json").read_text())["lr"] == pytest.approx(2e-3 * 0.2)
        assert "resumed at step" in (run / "stdout.txt").read_text()
        light = torch.load(export / f"{name}.pt", weights_only=True)
        assert set(light) == {"config", "state_dict", "step"} and light["step"] > 0
        full = torch.load(run / "last.pt", weights_only=True)
        assert light["step"] == full["step"]
        SaliCodec(CodecConfig.from_dict(light["config"]["codec"])).load_state_dict(light["state_dict"])
    with tarfile.open(export / "logs.tar.gz") as tar:
        assert {"p1/log.csv", "p2/phaseB.json"} <= set(tar.getnames())
    # A light checkpoint resumes: same weights and step, a fresh optimiser.
    t = Trainer(TrainConfig.from_dict(json.loads(configs[0].read_text())), tmp_path / "again", device="cpu",
                log=lambda *_: None)
    t.resume(export / "p1.pt")
    light = torch.load(export / "p1.pt", weights_only=True)
    assert t.step == light["step"] and not t.opt.state
    assert all(torch.equal(t.model.state_dict()[k], v) for k, v in light["state_dict"].items())
    assert parallel.main([str(tmp_path / "missing.json"), "--runs", str(tmp_path / "r"), "--minutes", "1"]) == 2


def fine_tune_of_a_trained_model(image_dir, tmp_path, **flags) -> tuple[Trainer, Trainer]:
    """A tiny model trained 20 steps, and a Trainer that fine-tunes it with `flags` set."""
    src = Trainer(tiny_config(image_dir), tmp_path / "src", device="cpu", log=lambda *_: None)
    src.run(src.make_sampler(), max_steps=20)
    d = tiny_config(image_dir).to_dict()
    d.update(init_from=str(tmp_path / "src" / "last.pt"), mask_warmup_steps=0, **flags)
    return src, Trainer(TrainConfig.from_dict(d), tmp_path / "ft", device="cpu", log=lambda *_: None)


def test_decoder_only_changes_the_reconstruction_not_the_file(image_dir, tmp_path):
    """decoder_only: D1 trains on the coding-time latents; everything that shapes the bitstream
    (E1, E2/D2, the centres, the context models) stays bit for bit, so a file written before
    the fine-tune is the file written after it, and its reconstruction improves."""
    torch.set_num_threads(1)
    src, dec = fine_tune_of_a_trained_model(image_dir, tmp_path, decoder_only=True)
    sampler = dec.make_sampler()
    x, _ = sampler.batch(4, seed=123, step=0)

    def coded_mse(model) -> float:
        model.eval()
        with torch.no_grad():
            y_idx = model._analysis(x, None)["y_idx"]
            return float(((model.reconstruct_from_indices(y_idx) - x) ** 2).mean())

    before = coded_mse(src.model)
    dec.run(sampler, max_steps=40)
    s, t = src.model.state_dict(), dec.model.state_dict()
    assert all(torch.equal(s[k], t[k]) for k in s if not k.startswith("d1."))
    assert not all(torch.equal(s[k], t[k]) for k in s if k.startswith("d1."))
    one = x[:1]
    assert src.model.encode_latents(one).sections == dec.model.encode_latents(one).sections
    assert coded_mse(dec.model) < 0.9 * before


def test_decoder_only_needs_a_trained_model(image_dir, tmp_path):
    d = tiny_config(image_dir).to_dict()
    d["decoder_only"] = True
    with pytest.raises(SalicodecError, match="init_from"):
        Trainer(TrainConfig.from_dict(d), tmp_path / "r", device="cpu", log=lambda *_: None)


@pytest.mark.parametrize("two_sided", [True, False])
def test_entropy_model_unclipped_splits_the_rate_gradient(two_sided):
    """entropy_model_unclipped: below the target t the clipped rate term gives E1 the gradient
    -alpha*dR (two-sided) or none (clip), as before, while E2, D2 and the context models get the
    plain alpha*dR of the cross-entropy; the loss value is unchanged."""
    from salicodec.models.codec import SaliCodec
    from salicodec.training.losses import LossConfig, codec_loss

    torch.manual_seed(0)
    model = SaliCodec(TINY).train()
    x = torch.rand(2, 3, 64, 64)
    cfgs = {u: LossConfig(target_bpp=50.0, rate_weight=3.0, rate_two_sided=two_sided, entropy_model_unclipped=u)
            for u in (False, True)}  # t far above any rate: every batch is below it

    def grads(loss_fn):
        model.zero_grad()
        loss = loss_fn()
        loss.backward()
        return float(loss.detach()), {n: p.grad.clone() if p.grad is not None else torch.zeros_like(p)
                             for n, p in model.named_parameters()}

    def with_cfg(unclipped):
        def f():
            torch.manual_seed(1)
            out = model(x, None, rate_slope=torch.ones(()) if unclipped else None)
            return codec_loss(out, x, None, cfgs[unclipped])["loss"]
        return f

    def plain_rate():
        torch.manual_seed(1)
        out = model(x, None)
        return 3.0 * ((out["bits_y"] + out["bits_z"]) / (64 * 64)).mean() + out["mse_y_d2"]

    old_value, old = grads(with_cfg(False))
    new_value, new = grads(with_cfg(True))
    _, plain = grads(plain_rate)
    assert new_value == pytest.approx(old_value, rel=1e-6)
    entropy_model = ("e2.", "d2.", "q2.", "ctx_y.", "ctx_z.")
    for n in new:
        if n.startswith(entropy_model):
            torch.testing.assert_close(new[n], plain[n], rtol=1e-5, atol=1e-7)
        else:  # E1, the y centres, D1: exactly what the clipped loss gives them
            torch.testing.assert_close(new[n], old[n], rtol=1e-5, atol=1e-7)
    moved = [n for n in new if n.startswith(("ctx_y.", "ctx_z.")) and not torch.allclose(new[n], old[n])]
    assert moved  # the split changes something: below t the old loss misdirects the context models


def test_entropy_only_makes_the_same_symbols_cost_fewer_bits(image_dir, tmp_path):
    """entropy_only: the context models and D2 learn the coder's own symbols on the plain
    cross-entropy; E1, E2, the centres and D1 stay bit for bit, so the file codes the same
    symbols, decodes to the same image, and is smaller."""
    torch.set_num_threads(1)
    src, ent = fine_tune_of_a_trained_model(image_dir, tmp_path, entropy_only=True)
    assert ent.dpl is None
    sampler = ent.make_sampler()
    x, _ = sampler.batch(4, seed=123, step=0)
    src.model.eval()
    with torch.no_grad():
        bits_before = float(sum(src.model(x)[k].sum() for k in ("bits_y", "bits_z")))
    ent.run(sampler, max_steps=60)
    s, t = src.model.state_dict(), ent.model.state_dict()
    trained = ("ctx_y.", "ctx_z.", "d2.")
    assert all(torch.equal(s[k], t[k]) for k in s if not k.startswith(trained))
    assert not all(torch.equal(s[k], t[k]) for k in s if k.startswith(("ctx_y.", "ctx_z.")))
    ent.model.eval()
    with torch.no_grad():
        bits_after = float(sum(ent.model(x)[k].sum() for k in ("bits_y", "bits_z")))
        assert bits_after < 0.97 * bits_before
        a, b = src.model._analysis(x, None), ent.model._analysis(x, None)
        assert torch.equal(a["y_idx"], b["y_idx"]) and torch.equal(a["z_idx"], b["z_idx"])
        one = x[:1]
        old, new = src.model.encode_latents(one), ent.model.encode_latents(one)
        grid = (one.shape[2] // 8, one.shape[3] // 8)
        assert torch.equal(src.model.decode_latents(old.sections, grid), ent.model.decode_latents(new.sections, grid))
    assert sum(map(len, new.sections)) < sum(map(len, old.sections))


def test_entropy_only_and_decoder_only_exclude_each_other(image_dir, tmp_path):
    d = tiny_config(image_dir).to_dict()
    d.update(init_from="x.pt", entropy_only=True, decoder_only=True)
    with pytest.raises(SalicodecError, match="one"):
        Trainer(TrainConfig.from_dict(d), tmp_path / "r", device="cpu", log=lambda *_: None)


def test_export_sets_the_coding_time_importance_weight(tmp_path, monkeypatch):
    """--importance-weight (λ2 of m1 = λ1·s + λ2·i) ships in the model's config: a larger λ2
    keeps more channels in the non-salient cells, so the same image costs more bytes, and the
    file still decodes (the decoder reads the channel counts from the file)."""
    from salicodec.api import compress, decompress
    from salicodec.models.zoo import load_checkpoint
    from salicodec.training import export as export_mod
    from tests.conftest import make_tiny_model

    monkeypatch.setattr(export_mod, "ZOO_DIR", tmp_path / "zoo")
    monkeypatch.setattr(export_mod, "REGISTRY", tmp_path / "zoo" / "registry.json")
    torch.set_num_threads(1)
    model = make_tiny_model(seed=3)
    ckpt = tmp_path / "last.pt"
    torch.save({"config": {"codec": model.cfg.to_dict()}, "state_dict": model.state_dict(), "step": 7}, ckpt)
    plain = export_mod.export(ckpt, "m-plain", 0.3)
    wide = export_mod.export(ckpt, "m-wide", 0.3, importance_weight=1.5)
    assert plain["steps"] == wide["steps"] == 7
    m1, _ = load_checkpoint(tmp_path / "zoo" / "m-plain.pt")
    m2, meta = load_checkpoint(tmp_path / "zoo" / "m-wide.pt")
    assert m1.cfg.importance_weight == 1.0 and m2.cfg.importance_weight == 1.5
    assert meta["importance_weight"] == 1.5
    img = Image.fromarray(photo(64, 80, seed=5))
    small = compress(img, model=m1, saliency=None)
    large = compress(img, model=m2, saliency=None)
    assert len(large) > len(small)
    assert decompress(large, model=m2).size == (80, 64)
    with pytest.raises(ValueError, match="positive"):
        export_mod.export(ckpt, "m-bad", 0.3, importance_weight=0.0)


@pytest.mark.parametrize("fast", [False, True])
def test_dpl_bf16_only_where_the_hardware_runs_it(image_dir, tmp_path, monkeypatch, fast):
    # bf16 is a speed option: emulated on a CPU without bf16 kernels it is ~10x slower, so the
    # trainer falls back to float32 there and says so.
    monkeypatch.setattr("salicodec.hardware.bf16_is_fast", lambda device: fast)
    cfg = tiny_config(image_dir)
    cfg.dpl_bf16 = True
    cfg.loss.dpl_weight = 1.0
    logs = []
    tr = Trainer(cfg, tmp_path / "run", device="cpu", log=logs.append)
    assert tr.dpl.backbone_dtype == (torch.bfloat16 if fast else torch.float32)
    assert any("no fast bfloat16" in m for m in logs) is (not fast)


def test_init_from_a_shallower_model_deepens_it_exactly(image_dir, tmp_path):
    """More residual blocks than init_from has: the new ones start as identities, so the deeper
    model's first forward pass is the trained model's, and the new blocks then train."""
    torch.set_num_threads(1)
    src = Trainer(tiny_config(image_dir), tmp_path / "src", device="cpu", log=lambda *_: None)
    src.run(src.make_sampler(), max_steps=2)
    d = tiny_config(image_dir).to_dict()
    d["codec"].update(e1_blocks=3, e2_blocks=2)
    d["init_from"] = str(tmp_path / "src" / "last.pt")
    messages = []
    dst = Trainer(TrainConfig.from_dict(d), tmp_path / "dst", device="cpu", log=messages.append)
    assert len(dst.model.d1.net) == len(src.model.d1.net) + 2 and "grown from 1 / 1 to 3 / 2" in messages[0]
    x = torch.rand(2, 3, 64, 64)
    src.model.eval(), dst.model.eval()
    with torch.no_grad():
        a, b = src.model(x), dst.model(x)
    for k in ("x_hat", "bits_y", "bits_z"):
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    new_conv2 = dst.model.d1.net[1 + TINY.e1_nonlocal + 2 + 1].conv2.weight  # the second residual block
    assert float(new_conv2.detach().abs().sum()) == 0.0
    dst.model.train()
    dst.run(dst.make_sampler(), max_steps=2)
    assert float(new_conv2.detach().abs().sum()) > 0.0


def test_the_growth_log_names_only_what_grew():
    from salicodec.models.codec import CodecConfig
    from salicodec.models.grow import growth_summary

    deeper = CodecConfig(**{**TINY.to_dict(), "e1_blocks": TINY.e1_blocks + 2})
    wider = CodecConfig(**{**TINY.to_dict(), "width": TINY.width + 8})
    both = CodecConfig(**{**TINY.to_dict(), "e1_blocks": TINY.e1_blocks + 2, "width": TINY.width + 8})
    assert "residual blocks" in growth_summary(TINY, deeper) and "widths" not in growth_summary(TINY, deeper)
    assert "widths" in growth_summary(TINY, wider) and "residual blocks" not in growth_summary(TINY, wider)
    assert growth_summary(TINY, both).count(" and from widths") == 1


def test_grow_widens_and_deepens_exactly():
    """Wider E1/D1 and E2/D2 plus more blocks: a trained model (every weight non-zero, the
    attention's output projection included) codes the same, and the new channels train."""
    from salicodec.models.codec import CodecConfig, SaliCodec
    from salicodec.models.grow import grow_state_dict

    torch.manual_seed(0)
    src = SaliCodec(TINY)
    with torch.no_grad():
        for name, p in src.named_parameters():
            if name.endswith(("weight", "bias")) and p.abs().sum() == 0:
                p.normal_(0, 0.05)  # NonLocalBlock's out starts at zero; a trained one is not
        src.e1.net[-1].weight.mul_(40)  # latents spread over the centres, as a trained E1's are
    big = CodecConfig(**{**TINY.to_dict(), "width": TINY.width + 8, "width2": TINY.width2 + 4,
                         "e1_blocks": TINY.e1_blocks + 1})
    dst = SaliCodec(big)
    dst.load_state_dict(grow_state_dict(src.state_dict(), TINY, big, seed=3))
    x = torch.rand(1, 3, 64, 64)
    src.eval(), dst.eval()
    with torch.no_grad():
        a, b = src(x), dst(x)
    assert len(torch.unique(src.q1(src.e1(x)[:, : TINY.channels])[1])) >= 3
    for k in ("x_hat", "bits_y", "bits_z", "mse_y_d2"):
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    # the block from new inputs to old outputs starts at zero and gets gradient at once
    theta = dst.d1.net[1].theta.weight  # D1's attention: width -> width / 2 queries
    old = (slice(0, TINY.width // 2), slice(TINY.width, None))
    assert theta.shape[:2] == (big.width // 2, big.width) and float(theta[old].detach().abs().sum()) == 0
    dst.train()
    out = dst(x)
    (out["x_hat"].square().mean() + out["bits_y"].mean()).backward()
    assert float(theta.grad[old].abs().sum()) > 0


def test_deepen_refuses_other_changes():
    from salicodec.models.codec import CodecConfig, SaliCodec
    from salicodec.models.grow import deepen_state_dict

    state = SaliCodec(TINY).state_dict()
    with pytest.raises(ValueError, match="only e1_blocks and e2_blocks"):
        deepen_state_dict(state, TINY, CodecConfig(**{**TINY.to_dict(), "width": 32}))
    with pytest.raises(ValueError, match="only be deepened"):
        deepen_state_dict(state, CodecConfig(**{**TINY.to_dict(), "e1_blocks": 2}), TINY)
    from salicodec.models.grow import grow_state_dict

    with pytest.raises(ValueError, match="only width and width2"):
        grow_state_dict(state, TINY, CodecConfig(**{**TINY.to_dict(), "width": TINY.width + 8, "channels": 12}))
    with pytest.raises(ValueError, match="only be widened"):
        grow_state_dict(state, TINY, CodecConfig(**{**TINY.to_dict(), "width": TINY.width - 8}))
