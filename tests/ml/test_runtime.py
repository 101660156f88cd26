"""How the generator runs: compiled message-passing blocks and their fallback."""

import logging
import shutil

import pytest
import torch

from matforge.ml.model import CrystalDiffusionVAE
from matforge.ml.runtime import (
    COMPILE_MIN_CRYSTAL_STEPS,
    COMPILE_MIN_TRAIN_STEPS,
    compile_wanted,
    compiled_blocks,
)

TINY = {
    "hidden_dim": 8,
    "latent_dim": 4,
    "num_encoder_layers": 1,
    "num_decoder_layers": 1,
    "num_basis": 4,
    "cutoff": 4.0,
    "num_noise_levels": 3,
    "max_atoms": 4,
    "decoder": "equivariant",
}


def _model() -> CrystalDiffusionVAE:
    torch.manual_seed(0)
    return CrystalDiffusionVAE(**TINY).eval()


def _score_inputs():
    """Two crystals (2 and 3 atoms) in cubic cells, noised."""
    generator = torch.Generator().manual_seed(3)
    num_atoms = torch.tensor([2, 3])
    return (
        torch.randn(2, TINY["latent_dim"], generator=generator),
        torch.tensor([1, 3, 1, 1, 12]),
        torch.rand(5, 3, generator=generator),
        torch.stack([3.0 * torch.eye(3), 3.5 * torch.eye(3)]),
        num_atoms,
        torch.repeat_interleave(torch.arange(2), num_atoms),
        torch.full((5,), 0.3),
    )


def test_torch_threads_zero_takes_every_core_and_restores_the_count():
    import os

    from matforge.ml.runtime import torch_threads

    before = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0))
    with torch_threads(0):
        assert torch.get_num_threads() == cores
        with torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == cores
    assert torch.get_num_threads() == before


def test_auto_compiles_long_jobs_only():
    assert compile_wanted("auto", COMPILE_MIN_TRAIN_STEPS, COMPILE_MIN_TRAIN_STEPS)
    assert not compile_wanted("auto", 85, COMPILE_MIN_TRAIN_STEPS)
    # the quick run: 24 crystals, 50 levels, one step each
    assert not compile_wanted("auto", 24 * 50, COMPILE_MIN_CRYSTAL_STEPS)
    assert compile_wanted("auto", 1000 * 50, COMPILE_MIN_CRYSTAL_STEPS)
    assert compile_wanted("on", 1, COMPILE_MIN_CRYSTAL_STEPS)
    assert not compile_wanted("off", 10**9, COMPILE_MIN_CRYSTAL_STEPS)
    with pytest.raises(ValueError, match="compile mode"):
        compile_wanted("fast", 1, 1)


def _failing_compile(function, **_kwargs):
    def compiled(*_args):
        raise RuntimeError("no C compiler here")

    return compiled


def test_a_compiler_that_fails_leaves_the_blocks_eager(monkeypatch, caplog):
    model = _model()
    inputs = _score_inputs()
    with torch.no_grad():
        eager = model.score(*inputs)
    monkeypatch.setattr(torch, "compile", _failing_compile)
    blocks = model.message_blocks()
    with caplog.at_level(logging.WARNING, logger="matforge.ml.runtime"):
        # training: the probe's forward already fails, so the blocks stay eager
        with compiled_blocks(blocks, True, training=True) as compiled:
            assert compiled is False
            with torch.no_grad():
                out = model.score(*inputs)
        # sampling: the first call fails, falls back, and never tries again
        with compiled_blocks(blocks, True) as compiled:
            assert compiled is True
            with torch.no_grad():
                first = model.score(*inputs)
                second = model.score(*inputs)
            assert all(b.forward.failed for b in model.dec_blocks)
    for result in (out, first, second):
        torch.testing.assert_close(result[0], eager[0], rtol=0, atol=0)
    messages = [r.getMessage() for r in caplog.records]
    assert any("no C compiler here" in m and "eagerly" in m for m in messages)
    # the eager forwards are back
    assert all("forward" not in vars(b) for b in blocks)


def test_an_error_of_the_block_itself_is_raised(monkeypatch):
    model = _model()
    # a "compiler" that hands the eager function back: the failure is the block's
    monkeypatch.setattr(torch, "compile", lambda function, **_kwargs: function)
    block = model.dec_blocks[0]
    h, v, src, dst, rbf, envelope, unit = block.example_inputs()
    with compiled_blocks([block], True), pytest.raises(IndexError):
        block(h, v, src, dst + 100, rbf, envelope, unit)


def _has_compiler() -> bool:
    return any(shutil.which(name) for name in ("g++", "c++", "clang++"))


@pytest.mark.slow
@pytest.mark.skipif(
    not _has_compiler(), reason="torch.compile's CPU code needs a C++ compiler"
)
def test_compiled_blocks_give_the_eager_scores():
    """The inference graph only: the training one costs a minute to compile
    (its gradients are compared by bench/score_network.py)."""
    model = _model()
    inputs = _score_inputs()
    with torch.no_grad():
        eager = model.score(*inputs)
        with compiled_blocks(model.message_blocks(), True) as compiled:
            assert compiled is True
            out = model.score(*inputs)
            assert not any(b.forward.failed for b in model.dec_blocks)
    torch.testing.assert_close(out[0], eager[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out[1], eager[1], rtol=1e-4, atol=1e-5)
