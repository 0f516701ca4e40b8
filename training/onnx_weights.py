"""Read a shipped ONNX model's weights back into its PyTorch architecture, to fine-tune it.

Training runs keep their ``model.pt``, but only the ONNX file ships. The exporter folds
each batch normalisation into the convolution before it, so every conv of the graph
computes ``W' x + b'``. The PyTorch model has a bias-free conv and a BatchNorm after
it. This module gives the conv ``W'`` and gives the BatchNorm the mean and variance of
the conv's output on real inputs as running statistics, with ``gamma = sqrt(var + eps)``
and ``beta = mean + b'``. In eval mode the BatchNorm then adds exactly ``b'``. In train
mode it normalises with a batch's own statistics, which are close to those, so
fine-tuning starts from the shipped model's function rather than from a rescaled one.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
from torch import nn


def _conv_norm_pairs(model: nn.Sequential) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    pairs = []
    for conv, norm in pairwise(model):
        if isinstance(conv, nn.Conv2d):
            if not isinstance(norm, nn.BatchNorm2d) or conv.bias is not None:
                raise ValueError("every conv must be bias-free and followed by a BatchNorm2d")
            pairs.append((conv, norm))
    return pairs


@torch.no_grad()
def load_onnx_weights(model: nn.Sequential, path: str | Path, images: np.ndarray) -> nn.Sequential:
    """Load the weights of the ONNX graph at ``path`` into ``model`` (same architecture).

    Parameters
    ----------
    model : nn.Sequential
        A fresh model of the architecture the ONNX file was exported from.
    path : path
        The ONNX file (e.g. ``idreader/models/digits.onnx``).
    images : np.ndarray
        float32 ``(n, 28, 28)`` cells like the training data (a few thousand); the
        BatchNorm statistics are measured on them.

    Returns
    -------
    nn.Sequential
        ``model``, in eval mode, computing the ONNX graph's logits.

    Examples
    --------
    >>> from training.models import build_model
    >>> model = load_onnx_weights(build_model("blocks4"), "idreader/models/digits.onnx",
    ...                           cells)  # doctest: +SKIP
    """
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    weights = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    convs = [node for node in proto.graph.node if node.op_type == "Conv"]
    gemms = [node for node in proto.graph.node if node.op_type == "Gemm"]
    pairs = _conv_norm_pairs(model)
    linears = [layer for layer in model if isinstance(layer, nn.Linear)]
    if len(convs) != len(pairs) or len(gemms) != len(linears):
        raise ValueError(
            f"{path}: {len(convs)} convs and {len(gemms)} linear layers, but the model has "
            f"{len(pairs)} and {len(linears)}"
        )

    def tensor(name: str, like: torch.Tensor, *, transpose: bool = False) -> torch.Tensor:
        value = np.array(weights[name], np.float32)
        value = torch.from_numpy(np.ascontiguousarray(value.T if transpose else value))
        if value.shape != like.shape:
            shapes = f"{tuple(value.shape)}, not {tuple(like.shape)}"
            raise ValueError(f"{path}: {name} has shape {shapes}")
        return value

    biases = []
    for node, (conv, norm) in zip(convs, pairs, strict=True):
        conv.weight.copy_(tensor(node.input[1], conv.weight))
        biases.append(tensor(node.input[2], norm.bias))
        # Pass-through first, so the statistics below are those of the ONNX graph.
        norm.running_mean.zero_()
        norm.running_var.fill_(1.0 - norm.eps)
        norm.weight.fill_(1.0)
        norm.bias.copy_(biases[-1])
    for node, linear in zip(gemms, linears, strict=True):
        # Gemm computes x @ B (transB=0) or x @ B.T; nn.Linear stores B.T's layout.
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        linear.weight.copy_(tensor(node.input[1], linear.weight, transpose=not trans_b))
        linear.bias.copy_(tensor(node.input[2], linear.bias))

    stats: list[tuple[torch.Tensor, torch.Tensor]] = []
    hooks = [
        conv.register_forward_hook(
            lambda _m, _i, out: stats.append((out.mean(dim=(0, 2, 3)), out.var(dim=(0, 2, 3))))
        )
        for conv, _ in pairs
    ]
    model.eval()
    model(torch.from_numpy(np.asarray(images, np.float32)).unsqueeze(1))
    for hook in hooks:
        hook.remove()
    for (_, norm), bias, (mean, var) in zip(pairs, biases, stats, strict=True):
        norm.running_mean.copy_(mean)
        norm.running_var.copy_(var)
        norm.weight.copy_(torch.sqrt(var + norm.eps))
        norm.bias.copy_(mean + bias)
    return model
