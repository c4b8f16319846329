"""A character-level CNN-RNN text encoder and its contrastive pretraining against an image encoder.

Reed, Akata, Lee, Schiele, "Learning Deep Representations of Fine-Grained Visual Descriptions" (CVPR
2016) encode a caption character by character: one-hot characters -> temporal convolutions and max
pooling -> a recurrent layer over the pooled sequence -> the average of its hidden states -> a linear
map to the embedding φ(t). They pretrain it with a matching loss between captions and images; StackGAN
(Zhang et al. 2017) and GAN-CLS (Reed et al. 2016) then keep it fixed and condition the GAN on φ(t).

gankit's matching loss is the symmetric InfoNCE (contrastive) loss of CLIP (Radford et al. 2021): for a
batch of B (caption, image) pairs with unit-norm embeddings t_i, v_i and temperature τ,

    L = ½ [ CE(softmax_j(t_i·v_j / τ), i) + CE(softmax_i(t_i·v_j / τ), j) ],

each caption must pick its own image out of the batch and each image its own caption. With ``groups``
(e.g. the attribute combination of each pair), every pair of the same group counts as a positive and
the target is uniform over them, so two captions of "a small red circle at the top" are not pushed
apart (a supervised-contrastive refinement; without groups it is plain InfoNCE). A caption that leaves
attributes unsaid ("a red circle") matches every image that has the attributes it names: ``positives``
P (B, B), P_ij = caption i fits image j, gives caption i the targets P_i· / Σ_j P_ij and image j the
targets P_·j / Σ_i P_ij (with groups, P_ij = [g_i = g_j]).

:func:`gankit.pretrain.pretrain_text_encoder` trains both encoders on a captioned data set; gankit ships a text encoder
pretrained this way on the ``shapes-captions`` training split (``nets/weights/text_encoder.safetensors``,
sha256 checked on load; ``python benchmarks/pretrain_text_encoder.py`` remakes it).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.data.captions import MAX_LEN, PAD, VOCAB
from gankit.weights import load_checked_weights, save_weights

__all__ = ["EMBED_DIM", "CharCNNRNN", "ImageEncoder", "contrastive_loss", "load_text_encoder",
           "save_text_encoder"]

EMBED_DIM = 64  # φ(t)
CHAR_DIM = 32
HIDDEN = 96
WEIGHTS_FILE = "text_encoder.safetensors"
SHA_FILE = "text_encoder.sha256"
RETRAIN = "remake it with `python benchmarks/pretrain_text_encoder.py`"


class CharCNNRNN(nn.Module):
    """Characters (B, L) int64 -> φ(t) (B, EMBED_DIM).

    Embedding (the one-hot input times a matrix) -> two [Conv1d(3) -> ReLU -> MaxPool(2)] -> GRU ->
    mean of the hidden states over the pooled steps that hold any character -> Linear.
    """

    def __init__(self, vocab: int = VOCAB, embed_dim: int = EMBED_DIM) -> None:
        super().__init__()
        self.chars = nn.Embedding(vocab, CHAR_DIM, padding_idx=PAD)
        self.conv = nn.Sequential(
            nn.Conv1d(CHAR_DIM, HIDDEN, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(HIDDEN, HIDDEN, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
        )
        self.rnn = nn.GRU(HIDDEN, HIDDEN, batch_first=True)
        self.out = nn.Linear(HIDDEN, embed_dim)

    def forward(self, tokens: Tensor) -> Tensor:
        tokens = tokens.long()
        h = self.conv(self.chars(tokens).transpose(1, 2)).transpose(1, 2)  # (B, L/4, H)
        h, _ = self.rnn(h)
        # a pooled step is valid when its 4 characters hold any non-pad one
        valid = (tokens != PAD).reshape(tokens.shape[0], h.shape[1], -1).any(dim=2).float()
        valid[:, 0] = 1.0  # never divide by zero
        mean = (h * valid.unsqueeze(2)).sum(1) / valid.sum(1, keepdim=True)
        return self.out(mean)


class ImageEncoder(nn.Module):
    """Images (B, C, S, S) in [-1, 1] -> (B, EMBED_DIM): three stride-2 convolutions, global average, Linear."""

    def __init__(self, channels: int = 3, embed_dim: int = EMBED_DIM, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 3, 2, 1), nn.LeakyReLU(0.2),
        )
        self.out = nn.Linear(4 * width, embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.net(x).mean(dim=(2, 3)))


def contrastive_loss(text: Tensor, image: Tensor, temperature: float = 0.1, groups: Tensor | None = None,
                     positives: Tensor | None = None) -> Tensor:
    """Symmetric InfoNCE between matching rows of ``text`` and ``image`` (both (B, D), normalised here).

    Args:
        text, image: embeddings; row i of each is a matching pair.
        temperature: τ dividing the cosine similarities.
        groups: optional (B,) ids; rows of one group are all positives for each other (uniform targets).
        positives: optional (B, B) bool, caption i fits image j (its diagonal must be true); overrides ``groups``.
    """
    t, v = F.normalize(text, dim=1), F.normalize(image, dim=1)
    logits = t @ v.T / temperature  # (B, B): caption i vs image j
    if positives is not None:
        fits = positives.float()
    elif groups is not None:
        fits = (groups.reshape(-1, 1) == groups.reshape(1, -1)).float()
    else:
        fits = torch.eye(len(t), device=t.device)
    loss_t = -(fits / fits.sum(dim=1, keepdim=True) * F.log_softmax(logits, dim=1)).sum(1).mean()
    loss_v = -(fits.T / fits.T.sum(dim=1, keepdim=True) * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return 0.5 * (loss_t + loss_v)


def save_text_encoder(net: CharCNNRNN, path: str | Path) -> str:
    """Write the encoder's weights as safetensors and return their sha256."""
    return save_weights(net, path, {"format": "gankit-text-encoder", "max_len": str(MAX_LEN), "vocab": str(VOCAB)})


def shipped_path() -> Path:
    return Path(str(resources.files("gankit.nets").joinpath("weights", WEIGHTS_FILE)))


def load_text_encoder(path: str | Path | None = None) -> CharCNNRNN:
    """A pretrained CharCNNRNN: ``path``, or the shipped weights (their sha256 checked) when None or "".

    Raises:
        CheckpointError: a missing or unreadable file, a sha256 mismatch, or weights of another shape.
    """
    return load_checked_weights(path, shipped_path(), SHA_FILE, CharCNNRNN(), "text encoder", RETRAIN)
