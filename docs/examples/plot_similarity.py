"""
Attention pooling by similarity: the Gaussian's width
=====================================================

The newer edition of the book repeats the Gaussian with widths 0.1, 0.2, 0.5
and 1. Its width ``sigma`` enters as ``exp(-x**2 / (2 sigma**2))``, so it is
nadaraya's bandwidth ``h = sigma``. The narrower the kernel, the rougher the
estimate and the more the attention weights concentrate on the nearest keys.
"""

import matplotlib.pyplot as plt
import numpy as np

import nadaraya as nw
from nadaraya import plotting

data = nw.make_dataset(n_train=50, seed=0)
widths = [0.1, 0.2, 0.5, 1.0]
preds = {}
weights = []
for h in widths:
    preds[f"width {h:g}"] = nw.attention_pool(data.x_test, data.x_train, data.y_train, bandwidth=h)
    weights.append(nw.attention_weights(data.x_test, data.x_train, bandwidth=h))

fig, axes = plt.subplots(1, 4, sharey=True, figsize=(12, 2.8), layout="constrained")
plotting.plot_fits(data.x_test, data.y_truth, preds, data.x_train, data.y_train, axes=axes)

fig, axes = plt.subplots(1, 4, sharex=True, sharey=True, figsize=(12, 2.8), layout="constrained")
plotting.show_heatmaps(np.stack(weights)[None], axes=axes[None], xlabel="Sorted training inputs",
                       ylabel="Sorted testing inputs", titles=list(preds))
plt.show()

# %%
# The test error against the noise-free truth for each width:
for name, pred in preds.items():
    print(f"{name}: test MSE {np.mean((pred - data.y_truth) ** 2):.4f}")
