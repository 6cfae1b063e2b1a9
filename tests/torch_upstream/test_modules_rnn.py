"""PyTorch's generic module tests (``test/test_modules.py``) over its RNN, GRU, LSTM, cell inputs.

Provenance: pytorch/pytorch, ``test/test_modules.py`` at commit
``33263640046f558d38b8e4bc306b1ca6abbf0b1f`` (class ``TestModule``), read against the installed
torch 2.13.0 (``cf30153c4c131c8164ee7798e5022d810682e2cb``), whose ``common_modules.py`` supplies
the inputs (:mod:`tests.torch_upstream._module_db`). Each test below is the upstream test of the
same name, restated for pytest: the same inputs, the same steps and the same assertions
(``assertEqual`` is ``torch.testing.assert_close`` with the tolerances upstream passes;
``assertRaisesRegex`` is ``pytest.raises(type, match=regex)``). The only substitution is the class
under test: every test runs once with ``torch.nn`` (the control, which must pass everything) and
once with ``rnncourse``. Tests marked ``onlyCUDA`` upstream run only where CUDA is available.
The upstream ``test_check_inplace`` does not apply (no RNN takes ``inplace``).
"""

# ruff: noqa: B023 - as upstream, each closure is called in the iteration that defines it
from __future__ import annotations

import copy
import tempfile
from functools import wraps
from itertools import chain, product
from operator import methodcaller
from typing import Any
from unittest.mock import MagicMock, call, patch

import pytest
import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

import rnncourse
from tests.torch_upstream._module_db import (
    ENTRIES,
    Entry,
    ModuleErrorEnum,
    freeze_rng_state,
    module_error_inputs,
    module_inputs,
)

IMPLEMENTATIONS = {"torch.nn": torch.nn, "rnncourse": rnncourse}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DTYPES = [torch.float32, torch.float64]
only_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="onlyCUDA upstream")
# gradcheck and gradgradcheck over every input and parameter, and the backward passes of the
# non-contiguous and memory-format tests, take minutes on two cores (torch.nn's too): they run
# with the full suite (make test), not with make test-fast
slow = pytest.mark.slow


def _cases(dtypes: list[torch.dtype] = DTYPES, train_only: bool = False) -> list[Any]:
    """(implementation, entry, dtype, training), as upstream's ``@modules`` expands them."""
    params = []
    for impl, entry, dtype in product(IMPLEMENTATIONS, ENTRIES, dtypes):
        flags = [True, False] if entry.train_and_eval_differ and not train_only else [True]
        for training in flags:
            mode = "train" if training else "eval"
            name = f"{impl}-{entry.name}-{str(dtype)[6:]}-{mode}"
            params.append(pytest.param(impl, entry, dtype, training, id=name))
    return params


def cls_of(impl: str, entry: Entry) -> type[torch.nn.Module]:
    return getattr(IMPLEMENTATIONS[impl], entry.name)


def assert_equal(actual: Any, expected: Any, **kwargs: Any) -> None:
    """``TestCase.assertEqual`` on tensors, nested tuples of them, and plain values."""
    if isinstance(actual, torch.Tensor | tuple | list) or isinstance(expected, torch.Tensor):
        torch.testing.assert_close(actual, expected, **kwargs)
    else:
        assert actual == expected, kwargs.get("msg")


def mock_wrapper(method: Any) -> Any:
    """``common_utils.mock_wrapper``: call the method and record the call on ``wrapper.mock``."""
    mock = MagicMock()

    @wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        mock(*args, **kwargs)
        return method(self, *args, **kwargs)

    wrapper.mock = mock  # type: ignore[attr-defined]
    return wrapper


def get_tensors_from(args: Any, kwargs: Any) -> set[torch.Tensor]:
    """``common_utils.get_tensors_from``: the tensors among the arguments."""
    return {a for a in args if isinstance(a, torch.Tensor)} | {
        v for v in kwargs.values() if isinstance(v, torch.Tensor)
    }


def _assert_module_parameters_and_buffer_are(
    module: torch.nn.Module, device: Any, dtype: torch.dtype
) -> None:
    device = torch.device(device)
    for items, kind in (
        (module.named_parameters(), "Parameter"),
        (module.named_buffers(), "Buffer"),
    ):
        for name, item in items:
            assert item.device == device, f"{kind} {name} is on {item.device}, not {device}"
            if item.dtype.is_floating_point:
                assert item.dtype == dtype, f"{kind} {name} is {item.dtype}, not {dtype}"


def _traverse_obj(obj: Any, func: Any) -> Any:
    if isinstance(obj, tuple | list):
        return type(obj)(_traverse_obj(o, func) for o in obj)
    if isinstance(obj, dict):
        return {name: _traverse_obj(o, func) for name, o in obj.items()}
    if isinstance(obj, torch.Tensor):
        return func(obj)
    return None


def _retain_grad(obj: Any) -> None:
    _traverse_obj(obj, lambda t: t.retain_grad() if t.requires_grad else None)


def _get_grads(obj: Any) -> Any:
    return _traverse_obj(obj, lambda t: t.grad if t.requires_grad else None)


def _zero_grad(obj: Any) -> None:
    def zero(t: torch.Tensor) -> None:
        t.grad = None

    _traverse_obj(obj, zero)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("impl", "entry", "dtype", "training"), _cases())
def test_forward(impl: str, entry: Entry, dtype: torch.dtype, training: bool, device: str) -> None:
    module_cls = cls_of(impl, entry)
    dtype_to_method_caller = {
        torch.float32: methodcaller("float"),
        torch.float64: methodcaller("double"),
    }
    for module_input in module_inputs(entry, device, dtype, False, training):
        with freeze_rng_state():
            args, kwargs = (
                module_input.constructor_input.args,
                module_input.constructor_input.kwargs,
            )
            m = module_cls(*args, **kwargs)
            m.to(device).to(dtype)
            m.train(training)
            args, kwargs = module_input.forward_input.args, module_input.forward_input.kwargs
            outputs = m(*args, **kwargs)
            if module_input.reference_fn is not None:
                assert_equal(outputs, module_input.reference_fn(m, *args, **kwargs))
            dtype_to_method_caller[dtype](m)
            m(*args, **kwargs)
            _assert_module_parameters_and_buffer_are(m, device, dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("impl", "entry", "dtype", "training"), _cases())
def test_factory_kwargs(
    impl: str, entry: Entry, dtype: torch.dtype, training: bool, device: str
) -> None:
    module_cls = cls_of(impl, entry)
    for module_input in module_inputs(entry, device, dtype, False, training):
        args, kwargs = (
            module_input.constructor_input.args,
            dict(module_input.constructor_input.kwargs),
        )
        creates = False
        parameter_new = mock_wrapper(torch.nn.Parameter.__new__)
        with patch.object(torch.nn.Parameter, "__new__", parameter_new):
            register_buffer = mock_wrapper(torch.nn.Module.register_buffer)
            with patch.object(torch.nn.Module, "register_buffer", register_buffer):
                m = module_cls(*args, **kwargs)
                m.train(training)
                constructor_tensors = get_tensors_from(args, kwargs)
                for mock in (parameter_new.mock, register_buffer.mock):
                    for call_args, call_kwargs in mock.call_args_list:
                        tensors = get_tensors_from(call_args, call_kwargs)
                        if tensors and not constructor_tensors.intersection(tensors):
                            creates = True
        if not creates:
            continue
        kwargs.update({"device": device, "dtype": dtype})
        m = module_cls(*args, **kwargs)
        m.train(training)
        _assert_module_parameters_and_buffer_are(m, device, dtype)


@only_cuda
@pytest.mark.parametrize(("impl", "entry", "dtype", "training"), _cases())
def test_multiple_device_transfer(
    impl: str, entry: Entry, dtype: torch.dtype, training: bool
) -> None:
    module_cls = cls_of(impl, entry)
    inputs_device = module_inputs(entry, "cuda", dtype, False, training)
    inputs_cpu = module_inputs(entry, "cpu", dtype, False, training)
    for on_device, on_cpu in zip(inputs_device, inputs_cpu, strict=True):
        with freeze_rng_state():
            args, kwargs = on_device.constructor_input.args, on_device.constructor_input.kwargs
            m = module_cls(*args, **kwargs)
            m.to("cuda").to(dtype)
            m.train(training)
            m(*on_device.forward_input.args, **on_device.forward_input.kwargs)
            _assert_module_parameters_and_buffer_are(m, "cuda:0", dtype)
            m.cpu()
            m(*on_cpu.forward_input.args, **on_cpu.forward_input.kwargs)
            _assert_module_parameters_and_buffer_are(m, "cpu", dtype)
            m.cuda()
            m(*on_device.forward_input.args, **on_device.forward_input.kwargs)
            _assert_module_parameters_and_buffer_are(m, "cuda:0", dtype)


@pytest.mark.parametrize(("impl", "entry", "dtype", "training"), _cases())
def test_repr(impl: str, entry: Entry, dtype: torch.dtype, training: bool) -> None:
    module_cls = cls_of(impl, entry)
    for module_input in module_inputs(entry, "cpu", dtype, False, training):
        args, kwargs = module_input.constructor_input.args, module_input.constructor_input.kwargs
        m = module_cls(*args, **kwargs)
        m.to("cpu").to(dtype)
        m.train(training)
        m.__repr__()
        str(m)


@pytest.mark.parametrize(("impl", "entry", "dtype", "training"), _cases())
def test_pickle(impl: str, entry: Entry, dtype: torch.dtype, training: bool) -> None:
    module_cls = cls_of(impl, entry)
    for module_input in module_inputs(entry, "cpu", dtype, False, training):
        with freeze_rng_state():
            args, kwargs = (
                module_input.constructor_input.args,
                module_input.constructor_input.kwargs,
            )
            m = module_cls(*args, **kwargs)
            m.to("cpu").to(dtype)
            m.train(training)
            args, kwargs = module_input.forward_input.args, module_input.forward_input.kwargs
            output = m(*args, **kwargs)
            with tempfile.TemporaryFile() as f:
                torch.save(m, f)
                f.seek(0)
                m_copy = torch.load(f, weights_only=False)
                assert_equal(m_copy(*args, **kwargs), output)


@slow
@pytest.mark.parametrize(("impl", "entry", "dtype", "training"), _cases())
def test_non_contiguous_tensors(
    impl: str, entry: Entry, dtype: torch.dtype, training: bool
) -> None:
    module_cls = cls_of(impl, entry)

    def make_non_contiguous(obj: Any) -> Any:
        def inner(t: torch.Tensor) -> torch.Tensor:
            if t.dim() == 0:
                return t
            out = torch.repeat_interleave(t, 2, dim=-1)[..., ::2].detach()
            out.requires_grad = t.requires_grad
            return out

        return _traverse_obj(obj, inner)

    def backward_all(out: Any, grads: Any) -> None:
        if isinstance(out, torch.Tensor):
            out.backward(grads, retain_graph=True)
            return
        for o, g in zip(tree_flatten(out)[0], tree_flatten(grads)[0], strict=True):
            if o.requires_grad:
                o.backward(g, retain_graph=True)

    for module_input in module_inputs(entry, "cpu", dtype, True, training):
        input_args, input_kwargs = (
            module_input.forward_input.args,
            module_input.forward_input.kwargs,
        )
        args, kwargs = module_input.constructor_input.args, module_input.constructor_input.kwargs
        m = module_cls(*args, **kwargs)
        m.to("cpu").to(dtype)
        m.train(training)
        _retain_grad((input_args, input_kwargs))
        with freeze_rng_state():
            default_output = m(*input_args, **input_kwargs)
            if isinstance(default_output, torch.Tensor):
                grad_output = default_output.clone().detach_().normal_()
            else:
                grad_output = tuple(
                    _traverse_obj(
                        o, lambda o: o.clone().detach_().normal_() if o.requires_grad else None
                    )
                    for o in default_output
                )
            backward_all(default_output, grad_output)
        default_input_grads = copy.deepcopy(_get_grads((input_args, input_kwargs)))
        default_param_grad = copy.deepcopy([p.grad for p in m.parameters()])

        nc_args, nc_kwargs = make_non_contiguous((input_args, input_kwargs))
        nc_grad_output = make_non_contiguous(grad_output)
        for (in_args, in_kwargs), g_out in product(
            [(input_args, input_kwargs), (nc_args, nc_kwargs)], [grad_output, nc_grad_output]
        ):
            g_out_copy = copy.deepcopy(g_out)
            _zero_grad((in_args, in_kwargs))
            _zero_grad(list(m.parameters()))
            with freeze_rng_state():
                out = m(*in_args, **in_kwargs)
                backward_all(out, g_out_copy)
            args_grad, kwargs_grad = _get_grads((in_args, in_kwargs))
            assert_equal(out, default_output)
            assert_equal(args_grad, default_input_grads[0], atol=1e-4, rtol=0)
            assert_equal(kwargs_grad, default_input_grads[1], atol=1e-4, rtol=0)
            assert_equal([p.grad for p in m.parameters()], default_param_grad)


def _test_gradients_helper(
    impl: str, entry: Entry, dtype: torch.dtype, training: bool, check: Any
) -> None:
    module_cls = cls_of(impl, entry)
    for module_input in module_inputs(entry, "cpu", dtype, True, training):
        args, kwargs = module_input.constructor_input.args, module_input.constructor_input.kwargs
        m = module_cls(*args, **kwargs)
        m.to("cpu").to(dtype)
        m.train(training)
        params = tuple(m.parameters())
        input_args, input_kwargs = (
            module_input.forward_input.args,
            module_input.forward_input.kwargs,
        )
        other_kwargs = {k: v for k, v in input_kwargs.items() if not isinstance(v, torch.Tensor)}
        kwarg_tensors = [(k, v) for k, v in input_kwargs.items() if isinstance(v, torch.Tensor)]
        flat_spec: Any = None

        def fn_to_gradcheck(*flat_input_and_params: Any) -> Any:
            input_and_params = tree_unflatten(list(flat_input_and_params), flat_spec)
            new_input_args = input_and_params[: len(input_args)]
            kwarg_args = input_and_params[-len(kwarg_tensors) :] if kwarg_tensors else ()
            new_kwargs = {
                name: obj for (name, _), obj in zip(kwarg_tensors, kwarg_args, strict=True)
            }
            with freeze_rng_state():
                output = m(*new_input_args, **new_kwargs, **other_kwargs)
                return tree_flatten(output)[0]

        grad_input = input_args + params + tuple(obj for _, obj in kwarg_tensors)
        flat_input, flat_spec = tree_flatten(grad_input)
        assert check(fn_to_gradcheck, flat_input, nondet_tol=0.0)

        old_requires_grad = [p.requires_grad for p in params]
        for p in params:
            p.requires_grad = False
        for p, old in zip(params, old_requires_grad, strict=True):
            p.requires_grad = old
            grad_input = input_args + params + tuple(obj for _, obj in kwarg_tensors)
            flat_input, flat_spec = tree_flatten(grad_input)
            assert check(fn_to_gradcheck, flat_input, nondet_tol=0.0)
            p.requires_grad = False


def _gradcheck(fn: Any, inputs: Any, **kwargs: Any) -> bool:
    """``common_utils.gradcheck``: batched gradients and fast mode on by default."""
    return torch.autograd.gradcheck(fn, inputs, check_batched_grad=True, fast_mode=True, **kwargs)


def _gradgradcheck(fn: Any, inputs: Any, **kwargs: Any) -> bool:
    """``common_utils.gradgradcheck``: batched gradients and fast mode on by default."""
    return torch.autograd.gradgradcheck(
        fn, inputs, check_batched_grad=True, fast_mode=True, **kwargs
    )


@slow
@pytest.mark.parametrize(("impl", "entry", "dtype", "training"), _cases([torch.float64]))
def test_grad(impl: str, entry: Entry, dtype: torch.dtype, training: bool) -> None:
    _test_gradients_helper(impl, entry, dtype, training, _gradcheck)


@slow
@pytest.mark.parametrize(("impl", "entry", "dtype", "training"), _cases([torch.float64]))
def test_gradgrad(impl: str, entry: Entry, dtype: torch.dtype, training: bool) -> None:
    _test_gradients_helper(impl, entry, dtype, training, _gradgradcheck)


@only_cuda
@pytest.mark.parametrize(("impl", "entry", "dtype", "training"), _cases())
def test_cpu_gpu_parity(impl: str, entry: Entry, dtype: torch.dtype, training: bool) -> None:
    # upstream skips torch.nn's cuDNN RNNs in eval mode (no cuDNN backward there)
    if impl == "torch.nn" and entry.train_and_eval_differ and not training:
        return
    tol = {"atol": 5e-2, "rtol": 0} if dtype == torch.float32 else {"atol": 4e-4, "rtol": 0}
    module_cls = cls_of(impl, entry)

    def to_device(obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            res = obj.detach().to(device="cuda")
            res.requires_grad = obj.requires_grad
            return res
        if isinstance(obj, tuple):
            return tuple(to_device(o) for o in obj)
        if isinstance(obj, dict):
            return {key: to_device(o) for key, o in obj.items()}
        return copy.deepcopy(obj)

    with (
        torch.backends.cuda.matmul.flags(allow_tf32=False),
        torch.backends.cudnn.flags(enabled=True, allow_tf32=False),
    ):
        for module_input in module_inputs(entry, "cpu", dtype, True, training):
            cpu_args, cpu_kwargs = (
                module_input.forward_input.args,
                module_input.forward_input.kwargs,
            )
            gpu_args, gpu_kwargs = to_device((cpu_args, cpu_kwargs))
            _retain_grad((cpu_args, cpu_kwargs, gpu_args, gpu_kwargs))
            args, kwargs = (
                module_input.constructor_input.args,
                module_input.constructor_input.kwargs,
            )
            cpu_module = module_cls(*args, **kwargs).to(dtype).to("cpu")
            cpu_module.train(training)
            gpu_module = module_cls(*args, **kwargs).to(dtype).to("cuda")
            gpu_module.train(training)
            for cpu_p, gpu_p in zip(cpu_module.parameters(), gpu_module.parameters(), strict=True):
                gpu_p.data.copy_(cpu_p)
            cpu_outputs = cpu_module(*cpu_args, **cpu_kwargs)
            gpu_outputs = gpu_module(*gpu_args, **gpu_kwargs)
            assert_equal(gpu_outputs, cpu_outputs, check_device=False, **tol)

            def check_backward(cpu_output: torch.Tensor, gpu_output: torch.Tensor) -> None:
                cpu_grad_output = cpu_output.clone().normal_()
                gpu_grad_output = cpu_grad_output.type_as(gpu_output)
                cpu_output.backward(cpu_grad_output, retain_graph=True)
                gpu_output.backward(gpu_grad_output, retain_graph=True)
                assert_equal(_get_grads(gpu_args), _get_grads(cpu_args), check_device=False, **tol)
                for cpu_p, gpu_p in zip(
                    cpu_module.parameters(), gpu_module.parameters(), strict=True
                ):
                    assert_equal(gpu_p.grad, cpu_p.grad, check_device=False, **tol)

            for _ in range(5):
                for cpu_output, gpu_output in zip(
                    tree_flatten(cpu_outputs)[0], tree_flatten(gpu_outputs)[0], strict=True
                ):
                    if cpu_output.requires_grad:
                        check_backward(cpu_output, gpu_output)


@slow
@pytest.mark.parametrize(("impl", "entry", "dtype", "training"), _cases())
def test_memory_format(impl: str, entry: Entry, dtype: torch.dtype, training: bool) -> None:
    # RNN inputs are 1-D to 3-D: upstream's formats reduce to contiguous input, and a module in
    # preserve_format and contiguous_format; every output and gradient must be contiguous
    module_cls = cls_of(impl, entry)

    def req_grad(t: Any) -> bool:
        return isinstance(t, torch.Tensor) and t.requires_grad

    def check_contiguous(obj: Any) -> None:
        _traverse_obj(obj, lambda t: None if t.is_contiguous() else pytest.fail("not contiguous"))

    for module_input in module_inputs(entry, "cpu", dtype, True, training):
        with freeze_rng_state():
            args, kwargs = (
                module_input.constructor_input.args,
                module_input.constructor_input.kwargs,
            )
            m = module_cls(*args, **kwargs)
            m.to("cpu").to(dtype)
            m.train(training)
            args, kwargs = module_input.forward_input.args, module_input.forward_input.kwargs
            desired_outputs = m(*args, **kwargs)
            ref_diff_outputs = tuple(t for t in tree_flatten(desired_outputs)[0] if req_grad(t))
            params = tuple(m.parameters())
            ref_diff_inputs = tuple(
                t for t in tree_flatten((args, kwargs, params))[0] if req_grad(t)
            )
            ref_grad_outputs = tuple(torch.rand_like(t) for t in ref_diff_outputs)
            if training and ref_diff_outputs:
                ref_grad_inputs = torch.autograd.grad(
                    ref_diff_outputs, ref_diff_inputs, grad_outputs=ref_grad_outputs
                )
            d_args = _traverse_obj(
                args, lambda t: t.clone().detach().requires_grad_(t.requires_grad)
            )
            d_kwargs = _traverse_obj(
                kwargs, lambda t: t.clone().detach().requires_grad_(t.requires_grad)
            )
            for module_mem_format in (torch.preserve_format, torch.contiguous_format):
                m.to(memory_format=module_mem_format)
                outputs = m(*d_args, **d_kwargs)
                check_contiguous(outputs)
                diff_outputs = tuple(t for t in tree_flatten(outputs)[0] if req_grad(t))
                if training and diff_outputs:
                    diff_inputs = tuple(
                        t for t in tree_flatten((d_args, d_kwargs, params))[0] if req_grad(t)
                    )
                    grad_outputs = tuple(
                        torch.empty_like(t1).copy_(t2)
                        for t1, t2 in zip(diff_outputs, ref_grad_outputs, strict=True)
                    )
                    grad_inputs = torch.autograd.grad(diff_outputs, diff_inputs, grad_outputs)
                    assert_equal(grad_inputs, ref_grad_inputs)
                    check_contiguous(grad_inputs)
                assert_equal(outputs, desired_outputs)


@pytest.mark.parametrize(("impl", "entry", "dtype", "training"), _cases(train_only=True))
def test_if_train_and_eval_modes_differ(
    impl: str, entry: Entry, dtype: torch.dtype, training: bool
) -> None:
    module_cls = cls_of(impl, entry)
    for module_input in module_inputs(entry, "cpu", dtype, False, training):
        args, kwargs = module_input.constructor_input.args, module_input.constructor_input.kwargs
        m = module_cls(*args, **kwargs)
        m.to("cpu").to(dtype)
        m.train(training)
        delattr(m, "training")
        try:
            m(*module_input.forward_input.args, **module_input.forward_input.kwargs)
        except AttributeError as e:
            if "'training'" not in str(e):
                raise
            assert entry.train_and_eval_differ, (
                f"{entry.name} has train_and_eval_differ=False, but training mode affects forward"
            )


@pytest.mark.parametrize(("impl", "entry", "dtype", "training"), _cases())
def test_device_ctx_init(impl: str, entry: Entry, dtype: torch.dtype, training: bool) -> None:
    from torch._subclasses.meta_utils import assert_metadata_eq

    module_cls = cls_of(impl, entry)
    on_cpu = module_inputs(entry, "cpu", dtype, False, training)
    with torch.device("meta"):
        on_meta = module_inputs(entry, None, dtype, False, training)  # type: ignore[arg-type]
    for module_input, module_input_meta in zip(on_cpu, on_meta, strict=True):
        c_args, c_kwargs = (
            module_input.constructor_input.args,
            module_input.constructor_input.kwargs,
        )
        meta_args = module_input_meta.constructor_input.args
        meta_kwargs = module_input_meta.constructor_input.kwargs
        m_cpu = module_cls(*c_args, **c_kwargs)
        with torch.device("meta"):
            m = module_cls(*meta_args, **meta_kwargs)
        for p_meta, p_cpu in chain(
            zip(m.parameters(), m_cpu.parameters(), strict=True),
            zip(m.buffers(), m_cpu.buffers(), strict=True),
        ):
            assert p_meta.is_meta
            assert_metadata_eq(lambda a, b, msg=None: assert_equal(a, b, msg=msg), p_meta, p_cpu)


@pytest.mark.parametrize(("impl", "entry", "dtype", "training"), _cases())
def test_errors(impl: str, entry: Entry, dtype: torch.dtype, training: bool) -> None:
    module_cls = cls_of(impl, entry)
    for error_input in module_error_inputs(entry, "cpu", dtype):
        module_input = error_input.module_error_input
        c_args, c_kwargs = (
            module_input.constructor_input.args,
            module_input.constructor_input.kwargs,
        )
        if error_input.error_on == ModuleErrorEnum.CONSTRUCTION_ERROR:
            with pytest.raises(error_input.error_type, match=error_input.error_regex):
                module_cls(*c_args, **c_kwargs)
        elif error_input.error_on == ModuleErrorEnum.FORWARD_ERROR:
            m = module_cls(*c_args, **c_kwargs)
            fw_args, fw_kwargs = module_input.forward_input.args, module_input.forward_input.kwargs
            with pytest.raises(error_input.error_type, match=error_input.error_regex):
                m(*fw_args, **fw_kwargs)
        else:
            raise NotImplementedError(f"Unknown error type {error_input.error_on}")


def test_inputs_are_upstreams() -> None:
    """Do the six entries give the inputs torch's own test suite runs (no silent empty lists)?"""
    counts = {e.name: len(module_inputs(e, "cpu", torch.float64, False, True)) for e in ENTRIES}
    errors = {e.name: len(module_error_inputs(e, "cpu", torch.float64)) for e in ENTRIES}
    assert min(counts.values()) >= 2 and min(errors.values()) >= 4, (counts, errors)
    assert call is not None  # the mock helpers upstream uses are importable here
