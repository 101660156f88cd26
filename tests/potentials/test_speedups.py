"""The streamlined SevenNet network gives the same numbers; the tuning takes effect."""

from __future__ import annotations

import copy
import operator
import pickle
import platform

import pytest
import torch
from torch import fx

from matforge.potentials.speedups import (
    one_blas_thread,
    rewrite_graph,
    streamline,
    tune_allocator,
)


def _slices(x: torch.Tensor) -> torch.Tensor:
    a = x[:, 0:3]
    b = x[:, 3:5]
    c = x[:, 7:10]  # a gap before it and the rest after it
    every_other = x[:, ::2]  # a step: left alone
    unused = torch.einsum("ab,ab->ab", a, a)  # noqa: F841  (computed, never used)
    return torch.cat([a * 2.0, b.sin(), c, every_other], dim=1)


def _getitems(module: fx.GraphModule) -> list[fx.Node]:
    return [
        n
        for n in module.graph.nodes
        if n.op == "call_function" and n.target is operator.getitem
    ]


def test_slices_of_one_tensor_become_one_split() -> None:
    plain = fx.symbolic_trace(_slices)
    fast = copy.deepcopy(plain)
    changes = rewrite_graph(fast)
    assert changes == 2  # one split group, one unused einsum
    targets = [n.target for n in fast.graph.nodes if n.op == "call_function"]
    assert targets.count(torch.split) == 1
    assert torch.einsum not in targets
    assert torch.functional.einsum not in targets
    # the stepped slice is still a slice; the three others come from the split
    slices = [n for n in _getitems(fast) if isinstance(n.args[1], tuple)]
    assert len(slices) == 1
    assert slices[0].args[1][-1] == slice(None, None, 2)

    x = torch.randn(6, 12, requires_grad=True)
    weights = torch.randn(6, 3 + 2 + 3 + 6)
    expected = plain(x)
    got = fast(x)
    assert torch.equal(expected, got)
    (grad_expected,) = torch.autograd.grad((expected * weights).sum(), x)
    (grad_got,) = torch.autograd.grad((got * weights).sum(), x)
    assert torch.equal(grad_expected, grad_got)
    # a second pass finds nothing left to do
    assert rewrite_graph(fast) == 0


def test_overlapping_slices_are_left_alone() -> None:
    def overlapping(x: torch.Tensor) -> torch.Tensor:
        return x[:, 0:4] + x[:, 2:6]

    module = fx.symbolic_trace(overlapping)
    assert rewrite_graph(module) == 0
    assert len(_getitems(module)) == 2


def test_a_rewritten_graph_still_copies_and_pickles() -> None:
    """e3nn re-traces its modules' code when they are copied or pickled."""
    from e3nn import o3

    tp = o3.TensorProduct(
        "8x0e+4x1e",
        "1x0e+1x1e",
        "8x0e+4x0e+8x1e+4x1e",
        [
            (0, 0, 0, "uvu", True),
            (1, 1, 1, "uvu", True),
            (0, 1, 2, "uvu", True),
            (1, 0, 3, "uvu", True),
        ],
        shared_weights=False,
        internal_weights=False,
    )
    x1 = torch.randn(20, tp.irreps_in1.dim, requires_grad=True)
    x2 = torch.randn(20, tp.irreps_in2.dim)
    w = torch.randn(20, tp.weight_numel, requires_grad=True)
    expected = tp(x1, x2, w)
    assert streamline(tp) > 0
    for clone in (tp, copy.deepcopy(tp), pickle.loads(pickle.dumps(tp))):
        got = clone(x1, x2, w)
        assert torch.allclose(expected, got, atol=1e-6)
        grads = torch.autograd.grad(got.square().sum(), [x1, w])
        ref = torch.autograd.grad(expected.square().sum(), [x1, w], retain_graph=True)
        for a, b in zip(grads, ref, strict=True):
            assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.potential
def test_streamlined_sevennet_gives_identical_numbers(lih, mgh2) -> None:
    """The loaded calculator is streamlined; a fresh stock one must agree exactly."""
    from atomate2.forcefields.utils import MLFF, ase_calculator
    from pymatgen.io.ase import AseAtomsAdaptor

    from matforge.potentials.registry import load_calculator, resolve_potential

    fast = load_calculator(resolve_potential("sevennet-0"))
    stock = ase_calculator(MLFF.SevenNet, model="7net-0")
    assert streamline(copy.deepcopy(stock.model)) > 0  # stock still has slices
    assert streamline(fast.model) == 0  # already done on load
    for seed in (lih, mgh2):
        structure = seed.copy()
        structure.perturb(0.05, min_distance=0.0)
        results = []
        for calc in (stock, fast):
            atoms = AseAtomsAdaptor.get_atoms(structure)
            atoms.calc = calc
            results.append(
                (atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress())
            )
        (e0, f0, s0), (e1, f1, s1) = results
        assert e0 == e1
        assert (f0 == f1).all()
        assert (s0 == s1).all()
        assert abs(f0).max() > 1e-3  # the check has forces to compare


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_allocator_tuning_takes_and_is_done_once() -> None:
    assert tune_allocator() is True
    assert tune_allocator() is True


def test_blas_runs_on_one_thread_inside_the_context() -> None:
    import numpy as np
    from threadpoolctl import threadpool_info

    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # load the BLAS library
    with one_blas_thread():
        blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
        assert blas
        assert all(i["num_threads"] == 1 for i in blas)
