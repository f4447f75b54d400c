"""A small vision transformer: patch embedding, class token, learned positions, pre-norm blocks."""

from __future__ import annotations

import torch
from torch import nn

from core.models.torch_layers import glorot_uniform_, he_uniform_, layer_norm, linear

PATCH, DIM, DEPTH, HEADS, MLP_DIM = 4, 64, 4, 4, 128
POSITION_STD = 0.02


def attention(dim: int, heads: int) -> nn.MultiheadAttention:
    """Each of the four E x E projections gets its own Glorot-uniform draw and a zero bias."""
    layer = nn.MultiheadAttention(dim, heads, batch_first=True)
    with torch.no_grad():
        for part in layer.in_proj_weight.chunk(3):
            glorot_uniform_(part, dim, dim)
        glorot_uniform_(layer.out_proj.weight, dim, dim)
        layer.in_proj_bias.zero_()
        layer.out_proj.bias.zero_()
    return layer


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_dim: int) -> None:
        super().__init__()
        self.norm1 = layer_norm(dim)
        self.attn = attention(dim, heads)
        self.norm2 = layer_norm(dim)
        self.fc1 = linear(dim, mlp_dim)
        self.fc2 = linear(mlp_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm2(x))))


class VisionTransformer(nn.Module):
    def __init__(self, input_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        height, width, channels = input_shape
        tokens = (height // PATCH) * (width // PATCH)
        self.patch_embed = he_uniform_(nn.Conv2d(channels, DIM, PATCH, stride=PATCH))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, DIM))
        self.pos_embed = nn.Parameter(torch.empty(1, tokens + 1, DIM))
        # Truncated at two standard deviations, as Keras' TruncatedNormal does.
        nn.init.trunc_normal_(self.pos_embed, std=POSITION_STD, a=-2 * POSITION_STD, b=2 * POSITION_STD)
        self.blocks = nn.Sequential(*[Block(DIM, HEADS, MLP_DIM) for _ in range(DEPTH)])
        self.norm = layer_norm(DIM)
        self.head = linear(DIM, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # (N, tokens, DIM), patches row by row
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def build(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return VisionTransformer(input_shape, num_classes)
