"""``dirichlet``: Dirichlet calibration (Kull et al., NeurIPS 2019): softmax(W log p + b) on the
model's log-probabilities, with off-diagonal and intercept regularisation (ODIR):
λ/(K(K−1)) · Σ_{i≠j} W_ij² + μ/K · Σ_j b_j² added to the validation NLL."""

from __future__ import annotations

import torch

from textmix.core.calibrators.matrix import MatrixScaling


class DirichletCalibration(MatrixScaling):
    """Args:
    off_diagonal: λ of ODIR (the paper picks it by cross-validation; 0.01 is in its grid).
    intercept: μ of ODIR.
    """

    name = "dirichlet"
    numpy_code = 'p = softmax(log_softmax(z) @ np.array(s["weight"]).T + np.array(s["bias"]))'

    def __init__(self, off_diagonal: float = 1e-2, intercept: float = 1e-2):
        super().__init__()
        self.off_diagonal, self.intercept = off_diagonal, intercept

    def _features(self, logits):
        return torch.log_softmax(logits, dim=1)  # (N, K) log p

    def _penalty(self, weight, bias):
        k = weight.shape[0]
        off = ~torch.eye(k, dtype=torch.bool)

        def penalty():
            scale = max(k * (k - 1), 1)
            return self.off_diagonal * (weight[off] ** 2).sum() / scale + self.intercept * (bias**2).sum() / k

        return penalty
