"""SeMask-FPN (SeMask Swin backbone + BranchFPN head), eval mode, in one readable file.

Written from the test-time data flow of the upstream model (Picsart-AI-Research/SeMask-Segmentation
@ f12cf00, folder SeMask-FPN: the SeMask Swin backbone and the BranchFPN head); golden vectors from
the upstream code (tests/fixtures/vectors_reduced_*.npz) prove it equal (tests/test_model_golden.py). Parameter names match the
upstream segmentor's state_dict key for key, so official checkpoints load unchanged.

Export-friendly by construction: every spatial size is a Python int derived from the input size,
window partition / cyclic shift / padding / cropping are one constant-index `Gather` each way, and
the shifted-window mask is two small broadcast constants. There is no data-dependent control flow,
so a traced graph is fully static (no `Shape`, `If` or `Loop`).

Notation: B batch, C channels, H x W a stage's token grid, ws window size, N = ws*ws tokens per
window, nW windows per image, K = 19 classes. "tokens" are (B, H*W, C) in row-major (h, w) order.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semask.core.errors import KitError, not_one_of
from semask.model.config import MODEL_TABLE, SeMaskConfig
from semask.spec import MEAN_RGB, MODELS, NUM_CLASSES, STD_RGB  # the shared vocabulary



# --------------------------------------------------------------------------------------------
# Architecture: each MODEL's numbers are its row's `arch` in semask.model.config (no torch there).
# --------------------------------------------------------------------------------------------
PRESETS: Dict[str, SeMaskConfig] = {m.name: m.arch for m in MODEL_TABLE}  # MODEL -> its architecture


# --------------------------------------------------------------------------------------------
# Static index plans (pure functions of Python ints; they become graph constants when traced).
# --------------------------------------------------------------------------------------------
def _ceil_to(n: int, m: int) -> int:
    return -(-n // m) * m


@lru_cache(maxsize=64)
def window_plan(h: int, w: int, ws: int, shift: int) -> Tuple[np.ndarray, np.ndarray]:
    """Gather indices for pad -> cyclic shift -> window partition, and for the way back.

    `fwd` (nW*N,) picks, for each slot of the windowed layout, a token index in [0, h*w]; index
    h*w is an extra all-zero token (the right/bottom zero padding). `inv` (h*w,) picks, for each
    original token, its slot in the windowed layout (un-shift + crop).
    """
    hp, wp = _ceil_to(h, ws), _ceil_to(w, ws)
    rows = (np.arange(hp) + shift) % hp  # roll by -shift: output row r shows padded row r+shift
    cols = (np.arange(wp) + shift) % wp
    pad_index = h * w
    grid = np.where((rows[:, None] < h) & (cols[None, :] < w), rows[:, None] * w + cols[None, :], pad_index)
    fwd = grid.reshape(hp // ws, ws, wp // ws, ws).transpose(0, 2, 1, 3).reshape(-1)
    inv = np.empty(h * w, dtype=np.int64)
    valid = fwd < pad_index
    inv[fwd[valid]] = np.nonzero(valid)[0]
    return fwd.astype(np.int64), inv


@lru_cache(maxsize=64)
def shift_mask_factors(h: int, w: int, ws: int, shift: int) -> Tuple[np.ndarray, np.ndarray]:
    """The shifted-window mask as a row factor (nWh,1,1,N,N) and a column factor (1,nWw,1,N,N).

    Upstream labels each padded position with 3*row_band + col_band and masks (-100) token pairs
    whose labels differ, i.e. whose row band OR column band differs. Adding the two factors gives
    -100 where one band differs and -200 where both do; after the softmax both are exact zeros
    relative to unmasked logits (e^-100 underflows against any unmasked term), and keeping the two
    factors separate stops constant folding from materialising a (nW, N, N) tensor in the graph.
    """
    hp, wp = _ceil_to(h, ws), _ceil_to(w, ws)

    def factor(size: int) -> np.ndarray:
        pos = np.arange(size)
        band = np.where(pos < size - ws, 0, np.where(pos < size - shift, 1, 2))
        band = band.reshape(size // ws, ws)  # (n_windows_along_axis, ws)
        return band

    rb, cb = factor(hp), factor(wp)
    n = ws * ws
    # token t of a window sits at (t // ws, t % ws)
    r_tok = rb[:, np.arange(n) // ws]  # (nWh, N)
    c_tok = cb[:, np.arange(n) % ws]  # (nWw, N)
    r_mask = np.where(r_tok[:, :, None] != r_tok[:, None, :], -100.0, 0.0).astype(np.float32)
    c_mask = np.where(c_tok[:, :, None] != c_tok[:, None, :], -100.0, 0.0).astype(np.float32)
    return r_mask[:, None, None], c_mask[None, :, None]


def relative_position_index(ws: int) -> torch.Tensor:
    """(N, N) lookup into the (2ws-1)^2-row bias table: (dh + ws-1)*(2ws-1) + (dw + ws-1)."""
    coords = np.stack(np.meshgrid(np.arange(ws), np.arange(ws), indexing="ij")).reshape(2, -1)  # (2, N)
    rel = coords[:, :, None] - coords[:, None, :] + (ws - 1)  # (2, N, N)
    return torch.from_numpy((rel[0] * (2 * ws - 1) + rel[1]).astype(np.int64))


def _const(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(array).to(like.device)


def to_windows(x: torch.Tensor, h: int, w: int, ws: int, shift: int) -> torch.Tensor:
    """tokens (B, h*w, C) -> windows (B*nW, N, C): zero-pad right/bottom, roll by -shift, partition."""
    b, _, c = x.shape
    fwd, _ = window_plan(h, w, ws, shift)
    x = torch.cat([x, x.new_zeros(b, 1, c)], dim=1)  # (B, h*w+1, C), last token = padding
    x = x.index_select(1, _const(fwd, x))  # (B, nW*N, C)
    return x.reshape(b * (fwd.size // (ws * ws)), ws * ws, c)


def from_windows(x: torch.Tensor, b: int, h: int, w: int, ws: int, shift: int) -> torch.Tensor:
    """windows (B*nW, N, C) -> tokens (B, h*w, C): merge, roll back by +shift, crop."""
    _, inv = window_plan(h, w, ws, shift)
    x = x.reshape(b, -1, x.shape[-1])  # (B, nW*N, C)
    return x.index_select(1, _const(inv, x))


# --------------------------------------------------------------------------------------------
# Backbone pieces
# --------------------------------------------------------------------------------------------
class PatchEmbed(nn.Module):
    """(B,3,H,W) -> tokens (B, H0*W0, C0), H0 = ceil(H/4): zero-pad to /4, 4x4/4 conv, LayerNorm."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=4, stride=4)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[2]), int(x.shape[3])
        pad_w, pad_h = (-w) % 4, (-h) % 4
        if pad_w or pad_h:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        x = self.proj(x)  # (B, C0, H0, W0)
        b, c, h0, w0 = (int(d) for d in x.shape)
        return self.norm(x.reshape(b, c, h0 * w0).transpose(1, 2))  # (B, H0*W0, C0)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside ws x ws windows, with a learned relative position bias."""

    def __init__(self, dim: int, num_heads: int, ws: int) -> None:
        super().__init__()
        self.num_heads, self.ws = num_heads, ws
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(ws))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: Tuple[torch.Tensor, torch.Tensor] | None, b: int) -> torch.Tensor:
        bw, n, c = x.shape  # (B*nW, N, C)
        nh = self.num_heads
        qkv = self.qkv(x).reshape(bw, n, 3, nh, c // nh).permute(2, 0, 3, 1, 4)  # (3, B*nW, nH, N, d)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)  # (B*nW, nH, N, N)
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        attn = attn + bias.reshape(n, n, nh).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            row, col = mask  # (nWh,1,1,N,N), (1,nWw,1,N,N)
            attn = attn.reshape(b, row.shape[0], col.shape[1], nh, n, n) + row + col
            attn = attn.reshape(bw, nh, n, n)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(bw, n, c)  # heads back to channel h*d + t
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact (erf) form, as upstream
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinBlock(nn.Module):
    """Pre-norm (shifted-)window attention + MLP, both residual. Padded tokens are not masked."""

    def __init__(self, dim: int, num_heads: int, ws: int, shift: int, mlp_ratio: float) -> None:
        super().__init__()
        self.ws, self.shift = ws, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, ws)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b = x.shape[0]
        mask = None
        if self.shift:
            row, col = shift_mask_factors(h, w, self.ws, self.shift)
            mask = (_const(row, x), _const(col, x))
        y = to_windows(self.norm1(x), h, w, self.ws, self.shift)  # (B*nW, N, C)
        y = from_windows(self.attn(y, mask, b), b, h, w, self.ws, self.shift)  # (B, h*w, C)
        x = x + y
        return x + self.mlp(self.norm2(x))


class SemanticAttention(nn.Module):
    """One SeMask unit on windows z (B*nW, N, C): class-space affinity, gated residual.

    s = q(z) are per-token class logits (the semantic map); A = softmax(s t^T) is single-head and
    unscaled; output = gamma * res(A v) + z.
    """

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))
        self.mlp_cls_q = nn.Linear(dim, num_classes)
        self.mlp_cls_k = nn.Linear(dim, num_classes)
        self.mlp_v = nn.Linear(dim, dim)
        self.mlp_res = nn.Linear(dim, dim)

    def forward(self, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        s = self.mlp_cls_q(z)  # (B*nW, N, K)
        affinity = (s @ self.mlp_cls_k(z).transpose(-2, -1)).softmax(dim=-1)  # (B*nW, N, N)
        u = self.mlp_res(affinity @ self.mlp_v(z))  # (B*nW, N, C)
        return s, self.gamma * u + z


class SemanticLayer(nn.Module):
    """LayerNorm, then SeMask units over unshifted windows. Its output REPLACES the token stream."""

    def __init__(self, dim: int, num_classes: int, ws: int, num_units: int) -> None:
        super().__init__()
        self.ws = ws
        self.norm1 = nn.LayerNorm(dim)
        self.class_injection = nn.ModuleList(SemanticAttention(dim, num_classes) for _ in range(num_units))

    def forward(self, x: torch.Tensor, h: int, w: int) -> Tuple[torch.Tensor, torch.Tensor]:
        b = x.shape[0]
        z = to_windows(self.norm1(x), h, w, self.ws, 0)  # (B*nW, N, C)
        for unit in self.class_injection:
            s, z = unit(z)
        sem = from_windows(s, b, h, w, self.ws, 0)  # (B, h*w, K)
        return sem, from_windows(z, b, h, w, self.ws, 0)  # (B, h*w, C)


class PatchMerging(nn.Module):
    """tokens (B, h*w, C) -> (B, ceil(h/2)*ceil(w/2), 2C): 2x2 space-to-depth (p00,p10,p01,p11)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return self.reduction(self.merge(x, h, w))  # (B, h2*w2, 2C)

    def merge(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """The 2x2 space-to-depth and its LayerNorm: (B, h*w, C) -> (B, h2*w2, 4C)."""
        b, _, c = x.shape
        x = x.reshape(b, h, w, c)
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        h2, w2 = (h + 1) // 2, (w + 1) // 2
        # (B, h2, dh, w2, dw, C) -> (B, h2, w2, dw, dh, C): channel block dw*2+dh = p00, p10, p01, p11
        x = x.reshape(b, h2, 2, w2, 2, c).permute(0, 1, 3, 4, 2, 5).reshape(b, h2 * w2, 4 * c)
        return self.norm(x)


class SeMaskStage(nn.Module):
    def __init__(self, cfg: SeMaskConfig, i: int) -> None:
        super().__init__()
        dim, ws = cfg.stage_dims[i], cfg.window_size
        self.blocks = nn.ModuleList(
            SwinBlock(dim, cfg.num_heads[i], ws, 0 if j % 2 == 0 else ws // 2, cfg.mlp_ratio)
            for j in range(cfg.depths[i])
        )
        self.semantic_layer = SemanticLayer(dim, cfg.num_classes, cfg.sem_window_size, cfg.num_sem_blocks[i])
        self.downsample = PatchMerging(dim) if i < 3 else None

    def forward(self, x: torch.Tensor, h: int, w: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        for block in self.blocks:
            x = block(x, h, w)
        sem, x = self.semantic_layer(x, h, w)
        down = self.downsample(x, h, w) if self.downsample is not None else None
        return x, sem, down


class SeMaskSwin(nn.Module):
    """Backbone: four stages; returns NCHW features (after norm_i) and raw semantic maps."""

    def __init__(self, cfg: SeMaskConfig) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(cfg.embed_dim)
        self.layers = nn.ModuleList(SeMaskStage(cfg, i) for i in range(4))
        for i, dim in enumerate(cfg.stage_dims):
            self.add_module(f"norm{i}", nn.LayerNorm(dim))

    def forward(self, x: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        b = x.shape[0]
        h, w = -(-int(x.shape[2]) // 4), -(-int(x.shape[3]) // 4)
        x = self.patch_embed(x)  # (B, h*w, C0)
        feats, sems = [], []
        for i, stage in enumerate(self.layers):
            out, sem, x = stage(x, h, w)
            feat = getattr(self, f"norm{i}")(out)
            feats.append(feat.reshape(b, h, w, -1).permute(0, 3, 1, 2))  # (B, C_i, h, w)
            sems.append(sem.reshape(b, h, w, -1).permute(0, 3, 1, 2))  # (B, K, h, w)
            h, w = (h + 1) // 2, (w + 1) // 2
        return feats, sems


# --------------------------------------------------------------------------------------------
# Decode head
# --------------------------------------------------------------------------------------------
def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear, align_corners=False, to `size`; skipped when the size already matches (exact identity).

    Integer up-scales go through `scale_factor`, which PyTorch computes identically (in/out equals
    1/scale exactly) and which exports as a Resize with constant scales (no Shape op).
    """
    size = (int(size[0]), int(size[1]))
    h, w = int(x.shape[2]), int(x.shape[3])
    if (h, w) == size:
        return x
    if size[0] % h == 0 and size[1] % w == 0:
        scale = (float(size[0] // h), float(size[1] // w))
        return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False, recompute_scale_factor=False)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False), as upstream's scale heads."""
    return resize(x, (2 * int(x.shape[2]), 2 * int(x.shape[3])))


class Upsample2x(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample2x(x)


class ConvModule(nn.Module):
    """3x3 conv (no bias) + BatchNorm (running stats) + ReLU, named conv/bn as mmcv's."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.activate = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.bn(self.conv(x)))


class BranchFPNHead(nn.Module):
    """Scale heads (i convs + 2x upsamples for stride 4*2^i) summed at 1/4, then 1x1 conv_seg."""

    def __init__(self, in_channels: Sequence[int], channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)  # created first: its keys come first
        heads = []
        for i, cin in enumerate(in_channels):
            layers: List[nn.Module] = []
            for r in range(max(1, i)):
                layers.append(ConvModule(cin if r == 0 else channels, channels))
                if i > 0:
                    layers.append(Upsample2x())
            heads.append(nn.Sequential(*layers))
        self.scale_heads = nn.ModuleList(heads)

    def forward(self, feats: Sequence[torch.Tensor], sems: Sequence[torch.Tensor],
                with_cls: bool = False) -> Tuple[torch.Tensor, torch.Tensor | None]:
        out = self.scale_heads[0](feats[0])  # (B, ch, H0, W0)
        for i in range(1, len(feats)):
            out = out + resize(self.scale_heads[i](feats[i]), out.shape[2:])
        seg = self.conv_seg(out)  # (B, K, H0, W0)
        cls = None
        if with_cls:  # training-only branch, kept to prove equality with upstream
            cls = sems[0]
            for i in range(1, len(sems)):
                up = sems[i]
                for _ in range(i):
                    up = upsample2x(up)
                cls = cls + resize(up, sems[0].shape[2:])
        return seg, cls


# --------------------------------------------------------------------------------------------
# Segmentor
# --------------------------------------------------------------------------------------------
class SeMaskFPN(nn.Module):
    """Whole-image inference: (B,3,H,W) normalised float32 -> logits (B,K,H,W) float32."""

    def __init__(self, cfg: SeMaskConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = SeMaskSwin(cfg)
        self.decode_head = BranchFPNHead(cfg.stage_dims, cfg.head_channels, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[2]), int(x.shape[3])
        if h < 32 or w < 32:
            raise ValueError(f"input is {h}x{w}; SeMask-FPN needs H and W >= 32")
        feats, sems = self.backbone(x)
        seg, _ = self.decode_head(feats, sems)  # (B, K, ceil(H/4), ceil(W/4))
        return resize(seg, (h, w))


def model_config(name: str) -> SeMaskConfig:
    """The architecture of MODEL `name` (tiny, small, base, large, reduced): its row's `arch`."""
    if name not in PRESETS:
        raise KitError(not_one_of("MODEL", name, MODELS))
    return PRESETS[name]


def build_model(name: str) -> SeMaskFPN:
    """Build an eval-mode SeMask-FPN for MODEL `name` (tiny, small, base, large, reduced)."""
    return SeMaskFPN(model_config(name)).eval()


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def input_normalizer(x_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 RGB NCHW -> normalised float32 by looking every pixel up in upstream's table.

    Why a lookup and not (x - mean) / std: the table is `semask.data.normalise.normalise_table()`,
    the very values the float32 bins are made of, so a uint8 graph feeds the model the same bits
    as the float32-bins path (arithmetic in the graph was one float32 step off for 45/89/80 of 256
    values per channel). Exported as Cast(uint8 -> int64) + Add(channel offset c*256) + Gather
    on the flat 768-entry table: opset 11, indices always in [0, 768), nothing data-dependent.
    """
    from semask.data.normalise import normalise_table  # lazy: cv2 only when a uint8 graph is built

    table = torch.from_numpy(normalise_table().copy()).reshape(-1).to(x_uint8.device)  # (768,) = 3 x 256
    offset = torch.arange(0, 3 * 256, 256, dtype=torch.int64, device=x_uint8.device).reshape(1, 3, 1, 1)
    return table[x_uint8.to(torch.int64) + offset]


__all__ = ["PRESETS", "SeMaskConfig", "SeMaskFPN", "build_model", "model_config", "num_parameters", "window_plan",
           "shift_mask_factors", "MEAN_RGB", "STD_RGB", "NUM_CLASSES"]
