"""
Kernels and their shapes
========================

Every kernel in :data:`nadaraya.KERNELS`, drawn as K(u) of the
bandwidth-scaled distance u = (q - k) / h, scaled so that K(0) = 1. The
compact kernels are zero for ``|u| > 1``; the constant kernel is average pooling.
"""

import matplotlib.pyplot as plt

import nadaraya as nw
from nadaraya import plotting

names = list(nw.KERNELS)
fig, axes = plt.subplots(1, len(names), sharey=True, figsize=(2.0 * len(names), 2.4), layout="constrained")
plotting.plot_kernels(names, axes=axes)
for ax in axes[1:]:
    ax.set_xlabel("")
plt.show()
