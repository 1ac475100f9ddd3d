"""3 x 3 convolutions with stride 1 as Winograd's minimal filtering F(2 x 2, 3 x 3).

A 3 x 3 convolution computes each output from 9 inputs per channel pair: 9 multiply-adds. Winograd
(Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016) computes a 2 x 2 tile of
outputs from a 4 x 4 tile of inputs with 16 products per channel pair instead of 36: the input tile
and the kernel are each transformed by a fixed matrix (B^T d B, G g G^T), multiplied elementwise,
summed over the input channels, and transformed back (A^T m A). Summed over channels, the 16
elementwise products are 16 matrix products (tiles x C) @ (C x K), which is where the time goes.

The transforms hold only 0, +-1 and +-1/2, so the result equals the direct convolution up to float
rounding (measured: within 3e-6 of the largest output, relative, on 512 channels). It is a different
order of the same sums, as oneDNN's and cuDNN's Winograd kernels are; the occlusion engine uses it
where `faster` says it beats the direct conv on this kind of CPU (many channels: the elementwise
transforms cost memory traffic that only a large channel count pays back).
"""

import weakref

import torch
import torch.nn.functional as F
from torch import nn

_BT = [[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]]
_G = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]]
_AT = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]]
CHANNELS = 256  # in and out channels from which F(2x2, 3x3) beat oneDNN's direct conv (AMD EPYC, one thread)
TILES = 512  # 4 x 4 input tiles transformed per matrix product: the chunk stays in cache


def faster(conv: nn.Module) -> bool:
    """Whether the engine runs this conv as Winograd F(2x2, 3x3): a plain 3 x 3 float32 conv on the
    CPU, stride 1, no dilation or groups, zero padding, at least CHANNELS channels in and out (on a GPU
    cuDNN chooses its own algorithm)."""
    return (type(conv) is nn.Conv2d and conv.weight.device.type == "cpu" and conv.weight.dtype == torch.float32
            and tuple(conv.kernel_size) == (3, 3) and tuple(conv.stride) == (1, 1) and tuple(conv.dilation) == (1, 1)
            and conv.groups == 1 and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
            and conv.in_channels >= CHANNELS and conv.out_channels >= CHANNELS)


def transformed_kernel(weight: torch.Tensor) -> torch.Tensor:
    """(K, C, 3, 3) -> (16, C, K): G g G^T of every kernel, one (C, K) matrix per tile element."""
    G = torch.tensor(_G, dtype=weight.dtype, device=weight.device)
    K, C = weight.shape[:2]
    u = torch.kron(G, G) @ weight.detach().reshape(K * C, 9).T  # (16, K * C): one product, not K * C small ones
    return u.view(16, K, C).transpose(1, 2).contiguous()


def winograd_conv(x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None, pad_h: int, pad_w: int,
                  input_transform: torch.Tensor, output_transform: torch.Tensor, tiles: int = TILES) -> torch.Tensor:
    """The 3 x 3, stride-1 convolution of x (B, C, H, W) padded by pad_h / pad_w, with the
    transformed kernel (16, C, K): (B, K, H + 2 pad_h - 2, W + 2 pad_w - 2), channels-last in memory."""
    B, C, H, W = x.shape
    K = kernel.shape[2]
    Ho, Wo = H + 2 * pad_h - 2, W + 2 * pad_w - 2
    th, tw = (Ho + 1) // 2, (Wo + 1) // 2
    padded = F.pad(x.permute(0, 2, 3, 1), [0, 0, pad_w, 2 * tw + 2 - W - pad_w, pad_h, 2 * th + 2 - H - pad_h])
    out = torch.empty(B, 2 * th, 2 * tw, K, dtype=x.dtype, device=x.device)
    per = max(1, tiles // (th * tw))  # images per chunk
    for s in range(0, B, per):
        d = padded[s:s + per].unfold(1, 4, 2).unfold(2, 4, 2)  # (b, th, tw, C, 4, 4)
        b = d.shape[0]
        v = (input_transform @ d.permute(4, 5, 0, 1, 2, 3).reshape(16, -1)).view(16, b * th * tw, C)
        m = torch.bmm(v, kernel)  # (16, tiles, K): the products, summed over channels
        y = (output_transform @ m.view(16, -1)).view(2, 2, b, th, tw, K)
        out[s:s + per].view(b, th, 2, tw, 2, K).copy_(y.permute(2, 3, 0, 4, 1, 5))
    if Ho != 2 * th or Wo != 2 * tw:
        out = out[:, :Ho, :Wo]
    if bias is not None:
        out = out + bias
    return out.permute(0, 3, 1, 2)


def transforms(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(B^T kron B^T (16, 16), A^T kron A^T (4, 16)): the input and output transforms of a flattened tile."""
    BT, AT = torch.tensor(_BT, dtype=dtype, device=device), torch.tensor(_AT, dtype=dtype, device=device)
    return torch.kron(BT, BT), torch.kron(AT, AT)


class WinogradConv(nn.Module):
    """A Conv2d (see `faster`) run as F(2x2, 3x3); the same outputs up to float rounding. Scriptable."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.pad_h, self.pad_w = int(conv.padding[0]), int(conv.padding[1])
        self.register_buffer("kernel", _kernel_of(conv))
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())
        input_transform, output_transform = transforms(conv.weight.dtype, conv.weight.device)
        self.register_buffer("input_transform", input_transform)
        self.register_buffer("output_transform", output_transform)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return winograd_conv(x, self.kernel, self.bias, self.pad_h, self.pad_w, self.input_transform,
                             self.output_transform)


_KERNELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # conv -> (weight version, its kernel)
_VALID: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # conv -> (weight version, WinogradConv)


def _version(conv: nn.Conv2d) -> tuple:
    """Changes when the weight or the bias is replaced or written in place."""
    return tuple((t._version, t.data_ptr()) for t in (conv.weight, conv.bias) if t is not None)


def _kernel_of(conv: nn.Conv2d) -> torch.Tensor:
    """The conv's transformed kernel, made once per conv and weight version (its windows and every
    compiled tail that holds it share one)."""
    if conv not in _KERNELS or _KERNELS[conv][0] != _version(conv):
        _KERNELS[conv] = (_version(conv), transformed_kernel(conv.weight))
    return _KERNELS[conv][1]


def valid_conv(conv: nn.Conv2d) -> WinogradConv:
    """The conv (see `faster`) as F(2x2, 3x3) with no padding, for slabs already padded."""
    if conv not in _VALID or _VALID[conv][0] != _version(conv):
        winograd = WinogradConv(conv)
        winograd.pad_h = winograd.pad_w = 0
        _VALID[conv] = (_version(conv), winograd)
    return _VALID[conv][1]
