"""Ward's hierarchical agglomerative partition of whitened rows (``init_params="ward"``).

mclust starts every model of its grid from one hierarchical agglomerative clustering
of the data instead of from k-means; on data whose features are strongly correlated
(e.g. the five crabs measurements, all proportional to the crab's size) the
Euclidean k-means partitions miss optima that such a tree finds. This module builds
one Ward tree (``scipy.cluster.hierarchy.linkage``) on the rows *whitened* by the
data's covariance (projected on its principal axes, each scaled to unit variance), so
the tree, like the full, tied and mclust's ellipsoidal models, does not depend on an
affine change of the features' units or axes. Cutting it into ``K`` clusters gives
the start of every ``K`` (``select`` builds the tree once for its whole grid).

The tree costs O(m^2) time and memory in its ``m`` rows, so it is built on at most
``WARD_MAX_ROWS`` rows: all of them for unweighted data of at most that many rows
(no random draw: the partition is that of the data), else rows drawn from the
restart's generator (a uniform systematic sample, or with probability proportional
to ``sample_weight`` and with replacement, so that integer weights act like
duplicated rows); every row of the data then goes to the nearest cluster mean of
the sample in the whitened coordinates.
"""

import numpy as np
from scipy.cluster.hierarchy import linkage

from ._openmp_helpers import blas_single_thread
from ._validation import row_chunks

WARD_MAX_ROWS = 2048


def _whitening(rows):
    """Mean (d,), scale (d,) and whitening matrix (d, r) of ``rows`` (m, d):
    ``((x - mean) / scale) @ W`` has identity covariance over the rows; ``r`` counts
    the directions whose variance is not negligible (r = 0 when the rows are all
    equal). The scale is every feature's largest deviation (the whitened rows do not
    depend on it): no square overflows or underflows whatever the data's magnitude."""
    mean = rows.mean(axis=0)
    centred = rows - mean
    scale = np.max(np.abs(centred), axis=0)
    scale[~(scale > 0)] = 1.0
    centred /= scale
    covariance = centred.T @ centred / rows.shape[0]
    variances, axes = np.linalg.eigh(covariance)
    floor = max(float(variances[-1]), 0.0) * rows.shape[1] * np.finfo(np.float64).eps
    kept = variances > floor
    if not kept.any():
        return mean, scale, np.zeros((rows.shape[1], 0))
    return mean, scale, axes[:, kept] / np.sqrt(variances[kept])


def _whiten(rows, whitening):
    """``((rows - mean) / scale) @ W`` for ``whitening = (mean, scale, W)`` (callers
    hold BLAS to one thread, so the bits do not depend on BLAS's thread count)."""
    mean, scale, matrix = whitening
    return ((rows - mean) / scale) @ matrix


class WardTree:
    """Ward's tree of (a bounded sample of) the rows of X in whitened coordinates.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
    sample_weight : ndarray of shape (n_samples,) or (0,) for unit weights
    rng : numpy.random.Generator or None
        Draws the rows of the tree when they are not all the rows (weighted data, or
        more than ``WARD_MAX_ROWS`` rows); not used otherwise.

    Attributes
    ----------
    rows : ndarray of shape (m,) or None
        The rows of X that the tree's leaves are (with repeats when weighted), or
        None when the leaves are all the rows of X in order.
    exact : bool
        Whether the leaves are every row of positive weight, once: then those rows
        keep their cluster of the tree (weights that are all equal count as no
        weights, and rows of weight 0 as absent), and only the others go to the
        nearest cluster mean.
    """

    def __init__(self, X, sample_weight, rng):
        n_samples = X.shape[0]
        self.X, self.sample_weight = X, sample_weight
        candidates = None                    # every row, unweighted
        weighted = sample_weight.size > 0
        if weighted:
            positive = sample_weight > 0
            values = sample_weight[positive]
            if values.size and np.all(values == values[0]):
                weighted = False             # equal weights: as unweighted rows
                candidates = None if positive.all() else np.flatnonzero(positive)
        n_candidates = n_samples if candidates is None else candidates.size
        self.exact = not weighted and n_candidates <= WARD_MAX_ROWS
        if self.exact:
            self.rows = candidates
        elif weighted:
            self.rows = self._draw_weighted(n_samples, sample_weight, rng)
        else:
            strata = self._draw_strata(n_candidates, rng)
            self.rows = strata if candidates is None else candidates[strata]
        leaves = np.asarray(X if self.rows is None else X[self.rows], dtype=np.float64)
        self.n_leaves = leaves.shape[0]
        with blas_single_thread():
            self.whitening = _whitening(leaves)
            self.whitened = _whiten(leaves, self.whitening)
        self.leaves = leaves
        if self.n_leaves > 1:
            self.merges = linkage(self.whitened, method="ward")[:, :2].astype(np.intp)
        else:
            self.merges = np.empty((0, 2), dtype=np.intp)

    @staticmethod
    def _draw_weighted(n_samples, sample_weight, rng):
        """With replacement, proportional to the weights: a row of weight 2 is drawn
        as often as two copies of a row of weight 1 would be (sorted)."""
        cumulative = np.cumsum(sample_weight / sample_weight.max(), dtype=np.float64)
        targets = rng.random(WARD_MAX_ROWS) * cumulative[-1]
        rows = np.searchsorted(cumulative, targets, side="right")
        return np.sort(np.minimum(rows, n_samples - 1))

    @staticmethod
    def _draw_strata(n_samples, rng):
        """One uniformly random row in each of WARD_MAX_ROWS equal strata (sorted)."""
        starts = np.arange(WARD_MAX_ROWS, dtype=np.int64) * n_samples // WARD_MAX_ROWS
        widths = np.diff(np.append(starts, n_samples))
        return (starts + (rng.random(WARD_MAX_ROWS) * widths).astype(np.int64)).astype(
            np.intp)

    def leaf_labels(self, n_clusters):
        """Cluster of every leaf once the tree is cut into ``n_clusters`` clusters,
        numbered by their first leaf; shape (n_leaves,)."""
        n_leaves = self.n_leaves
        n_merges = n_leaves - n_clusters            # merges made before the cut
        # Every node points at the node its merge made (the cut's clusters at
        # themselves); pointer jumping (root := root[root], each step doubling the
        # distance covered) reaches every leaf's cluster in log2(depth) steps.
        root = np.arange(2 * n_leaves - 1, dtype=np.intp)
        made = np.arange(n_leaves, n_leaves + n_merges, dtype=np.intp)
        root[self.merges[:n_merges, 0]] = made
        root[self.merges[:n_merges, 1]] = made
        while True:
            jumped = root[root]
            if np.array_equal(jumped, root):
                break
            root = jumped
        _, first, inverse = np.unique(root[:n_leaves], return_index=True,
                                      return_inverse=True)
        rank = np.empty(first.size, dtype=np.intp)
        rank[np.argsort(first, kind="stable")] = np.arange(first.size)
        return rank[inverse.reshape(-1)]

    def partition(self, n_clusters):
        """The hard partition of every row of X into ``n_clusters`` clusters.

        Parameters
        ----------
        n_clusters : int
            At most ``n_leaves``.

        Returns
        -------
        labels : ndarray of shape (n_samples,), intp
        centres : ndarray of shape (n_clusters, n_features), float64
            The mean of the tree's leaves in each cluster (in X's coordinates).
        """
        if not 1 <= n_clusters <= self.n_leaves:
            raise ValueError(f"init_params='ward' cuts a tree of {self.n_leaves} rows, "
                             f"which has no {n_clusters} clusters; use fewer components "
                             "or init_params='kmeans'.")
        leaf_labels = self.leaf_labels(n_clusters)
        counts = np.bincount(leaf_labels, minlength=n_clusters).astype(np.float64)
        centres = np.zeros((n_clusters, self.leaves.shape[1]))
        np.add.at(centres, leaf_labels, self.leaves)
        centres /= counts[:, None]
        if self.rows is None:
            return leaf_labels, centres
        whitened_centres = np.zeros((n_clusters, self.whitened.shape[1]))
        np.add.at(whitened_centres, leaf_labels, self.whitened)
        whitened_centres /= counts[:, None]
        with blas_single_thread():
            labels = self._nearest(whitened_centres)
        if self.exact:
            labels[self.rows] = leaf_labels
        return labels, centres

    def _nearest(self, whitened_centres):
        """Nearest centre (whitened coordinates) of every row of X, in row chunks."""
        X = self.X
        labels = np.empty(X.shape[0], dtype=np.intp)
        squared_norms = np.einsum("kr,kr->k", whitened_centres, whitened_centres)
        width = max(X.shape[1], whitened_centres.shape[0])
        for start, stop in row_chunks(X.shape[0], width):
            z = _whiten(np.asarray(X[start:stop], dtype=np.float64), self.whitening)
            # |z - c|^2 - |z|^2: the same nearest centre.
            distances = squared_norms - 2.0 * (z @ whitened_centres.T)
            labels[start:stop] = np.argmin(distances, axis=1)
        return labels

