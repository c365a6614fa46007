"""bf16 forward passes (used on CUDA) keep the scores within 1e-2 relative of fp32.

No GPU here, so the check runs the same autocast on the CPU: a proxy for the CUDA path that
exercises the same reduced-precision arithmetic in the networks.
"""

import numpy as np
import torch

from detector.global_branch import nearest_distances, patch_features
from detector.local_branch import LocalModel
from detector.networks import build_global_extractor
from detector.settings import ModelSettings


def _bf16():
    return torch.autocast(device_type="cpu", dtype=torch.bfloat16)


def test_local_patch_normality_bf16_close_to_fp32():
    s = ModelSettings(local_cube_vox=32, local_view_px=32, local_bank_passes=1)
    lm = LocalModel(s)
    g = torch.Generator().manual_seed(0)
    bank_views = torch.rand(64, 3, 32, 32, generator=g)
    raw = lm.embed(bank_views)
    lm.banks = [torch.nn.functional.normalize(r, dim=1) for r in raw]
    lm.weights = [float(1 / r.norm(dim=1).mean()) for r in raw]
    test_views = torch.rand(40, 3, 32, 32, generator=g)
    ref = lm.patch_normality(test_views).numpy()
    with _bf16():
        low = lm.patch_normality(test_views).float().numpy()
    assert np.max(np.abs(low - ref) / np.abs(ref)) < 1e-2
    assert abs(np.percentile(low, 7) - np.percentile(ref, 7)) / abs(np.percentile(ref, 7)) < 1e-2


def test_global_distances_bf16_close_to_fp32():
    net, _ = build_global_extractor("efficientnet_lite0_imagenet")
    g = torch.Generator().manual_seed(1)
    bank_imgs = torch.rand(4, 112, 112, generator=g)
    test_imgs = torch.rand(2, 112, 112, generator=g)
    bank = patch_features(net, bank_imgs, 3).reshape(-1, 152)
    ref = patch_features(net, test_imgs, 3).reshape(-1, 152)
    with _bf16():
        low = patch_features(net, test_imgs, 3).reshape(-1, 152).float()
    d_ref, _ = nearest_distances(ref, bank)
    d_low, _ = nearest_distances(low, bank)
    # the view score is the map's maximum: that is what must hold
    assert abs(float(d_low.max() - d_ref.max())) / float(d_ref.max()) < 1e-2
