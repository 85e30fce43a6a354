# SPDX-License-Identifier: Apache-2.0
"""ECON's clothed-normal network: two pix2pixHD global generators (front, back), in torch.

Architecture (written from the pix2pixHD paper, Wang et al. CVPR 2018, "global generator", and
ECON_SPEC 5.1, which lists ECON's layer indices): ``model`` is a sequence of

    0 ReflectionPad(3), 1 Conv7 (in -> ngf), 2 InstanceNorm, 3 ReLU,
    4/7/10/13 Conv3 stride 2 (ngf * 2^i -> ngf * 2^(i+1)) + IN + ReLU       (4 downsamplings)
    16..24 nine residual blocks at ngf * 16 channels, each ``conv_block`` =
          ReflPad1, Conv3 (.1), IN, ReLU, ReflPad1, Conv3 (.5), IN; output x + block(x)
    25/28/31/34 ConvTranspose3 stride 2 (output_padding 1) halving the channels + IN + ReLU
    37 ReflectionPad(3), 38 Conv7 (ngf -> 3), 39 Tanh

InstanceNorm without affine parameters or running statistics, so the state dict holds only the
convolutions. ECON: ngf = 64, input = concat(image, body normals) (6 channels; ``netF`` gets the
front body normals, ``netB`` the back ones), output normalised per pixel and multiplied by the
mask ``|image|.sum(channels) != 0``. Checkpoint keys (a PyTorch-Lightning checkpoint of ECON's
``Normal`` module): ``state_dict["netG.netF.model.1.weight"]``, ... Other keys (a discriminator,
optimiser state) are ignored; missing or mis-shaped generator keys are errors naming them.

``ngf`` and the input width are read from the checkpoint, so small test checkpoints with the same
key layout load too.
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

__all__ = ["NormalNet", "load_normal_net", "expected_keys", "predict_normals", "CheckpointError"]

N_DOWN = 4
N_BLOCKS = 9


class CheckpointError(ValueError):
    """The checkpoint does not hold ECON's normal-network weights."""


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("the normal network needs torch (pip install torch)") from None
    return torch


def _build_generator(in_ch: int, ngf: int):
    torch = _torch()
    nn = torch.nn

    class ResnetBlock(nn.Module):
        def __init__(self, ch):
            super().__init__()
            self.conv_block = nn.Sequential(
                nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch), nn.ReLU(True),
                nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch))

        def forward(self, x):
            return x + self.conv_block(x)

    class GlobalGenerator(nn.Module):
        def __init__(self):
            super().__init__()
            layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
            ch = ngf
            for _ in range(N_DOWN):
                layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1), nn.InstanceNorm2d(ch * 2), nn.ReLU(True)]
                ch *= 2
            layers += [ResnetBlock(ch) for _ in range(N_BLOCKS)]
            for _ in range(N_DOWN):
                layers += [nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1),
                           nn.InstanceNorm2d(ch // 2), nn.ReLU(True)]
                ch //= 2
            layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, 3, 7), nn.Tanh()]
            self.model = nn.Sequential(*layers)

        def forward(self, x):
            return self.model(x)

    return GlobalGenerator()


def NormalNet(in_ch: int = 6, ngf: int = 64):
    """A torch module with ``netF`` and ``netB`` generators (ECON's ``NormalNet`` layout)."""
    torch = _torch()

    class _Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.netF = _build_generator(in_ch, ngf)
            self.netB = _build_generator(in_ch, ngf)

    return _Net()


def expected_keys(in_ch: int = 6, ngf: int = 64, prefix: str = "netG.") -> dict:
    """{key: shape} of the generator weights as stored in ECON's checkpoint."""
    net = NormalNet(in_ch, ngf)
    return {prefix + k: tuple(v.shape) for k, v in net.state_dict().items()}


def _read_state(path, trust: bool):
    torch = _torch()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--normal-ckpt {path}: no such file")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        if not trust:
            raise CheckpointError(
                f"--normal-ckpt {path}: cannot be read as plain weights ({type(e).__name__}: "
                f"{' '.join(str(e).split())[:160]}); if you trust the file, pass --trust-checkpoint to "
                "let torch unpickle it") from None
        try:
            ck = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e2:  # noqa: BLE001
            raise CheckpointError(f"--normal-ckpt {path}: not a torch checkpoint ({type(e2).__name__}: {e2})") from None
    if isinstance(ck, dict) and "state_dict" in ck and isinstance(ck["state_dict"], dict):
        ck = ck["state_dict"]
    if not isinstance(ck, dict):
        raise CheckpointError(f"--normal-ckpt {path}: expected a checkpoint dict, got {type(ck).__name__}")
    return ck


def load_normal_net(path, *, device: str = "cpu", trust: bool = False):
    """Build the two generators from ECON's ``normal.ckpt`` (or any checkpoint with its key layout)."""
    torch = _torch()
    state = _read_state(path, trust)
    prefix = "netG."
    probe = state.get(prefix + "netF.model.1.weight")
    if probe is None:
        near = sorted(k for k in state if "netF" in k or "netB" in k)[:3]
        raise CheckpointError(f"--normal-ckpt {path}: missing key 'netG.netF.model.1.weight' (ECON's normal "
                              f"network); {len(state)} keys found" + (f", e.g. {near}" if near else ""))
    if not hasattr(probe, "shape") or len(probe.shape) != 4:
        raise CheckpointError(f"--normal-ckpt {path}: 'netG.netF.model.1.weight' is not a conv weight")
    ngf, in_ch = int(probe.shape[0]), int(probe.shape[1])
    want = expected_keys(in_ch, ngf, prefix)
    missing = [k for k in want if k not in state]
    bad = [f"{k} {tuple(state[k].shape)} (expected {s})" for k, s in want.items()
           if k in state and tuple(getattr(state[k], "shape", ())) != s]
    if missing or bad:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys: {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
        if bad:
            parts.append(f"{len(bad)} mismatched shapes: {'; '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}")
        raise CheckpointError(f"--normal-ckpt {path}: not ECON's normal network layout (ngf {ngf}, {in_ch} input "
                              f"channels): {'; '.join(parts)}")
    net = NormalNet(in_ch, ngf)
    net.load_state_dict({k[len(prefix):]: state[k] for k in want}, strict=True)
    net.eval()
    net.in_channels = in_ch
    net.ngf = ngf
    return net.to(device)


def predict_normals(net, image: np.ndarray, body_normals: np.ndarray, mask: Optional[np.ndarray] = None,
                    *, device: str = "cpu") -> np.ndarray:
    """Clothed normals (2, H, W, 3) float32 from an RGB image and the rendered body normals.

    image: (H, W, 3) float in [0, 1] (uint8 accepted); pixels outside ``mask`` are set to 0 after
        ECON's normalisation (mean = std = 0.5 -> [-1, 1]), as ECON's rembg-masked input.
    body_normals: (2, H, W, 3) world-frame body normals (front, back mirrored; NaN/0 off the body).
    H and W must be multiples of 16 (four stride-2 levels).
    """
    torch = _torch()
    img = np.asarray(image)
    if img.dtype == np.uint8:
        img = img.astype(np.float32) / 255.0
    elif img.dtype == np.uint16:
        img = img.astype(np.float32) / 65535.0
    img = img.astype(np.float32)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {img.shape}")
    H, W = img.shape[:2]
    if H % 16 or W % 16:
        raise ValueError(f"image size must be a multiple of 16 for the normal network, got {W}x{H}")
    bn = np.nan_to_num(np.asarray(body_normals, np.float32))
    if bn.shape != (2, H, W, 3):
        raise ValueError(f"body_normals must have shape (2, {H}, {W}, 3), got {bn.shape}")
    x = img * 2.0 - 1.0
    if mask is None:
        mask = np.abs(x).sum(-1) != 0
    x = np.where(np.asarray(mask, bool)[..., None], x, 0.0)
    in_ch = getattr(net, "in_channels", 6)
    if in_ch != 6:
        raise ValueError(f"the checkpoint's generators take {in_ch} input channels; ECON's take 6 (image + body normals)")
    outs = []
    with torch.no_grad():
        for s, g in enumerate((net.netF, net.netB)):
            inp = np.concatenate([x, bn[s]], axis=-1).transpose(2, 0, 1)[None]
            y = g(torch.from_numpy(np.ascontiguousarray(inp)).to(device))[0].cpu().numpy().transpose(1, 2, 0)
            y = y / np.maximum(np.linalg.norm(y, axis=-1, keepdims=True), 1e-8)
            outs.append(np.where(mask[..., None], y, 0.0))
    return np.stack(outs).astype(np.float32)
