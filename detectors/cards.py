"""Detector cards: the parameter-free description and pseudo-code used verbatim in prompts.

The IForest card is the paper's own p_description (LLM-DAS, App. 6.5); the others are
written in the same form. Cards never state hyper-parameter values: the synthesis
program must work for any configuration of the detector.
"""
from dataclasses import asdict, dataclass

from das.detectors.names import canonical_name


@dataclass(frozen=True)
class DetectorCard:
    """Description and pseudo-code of one detector algorithm.

    Attributes
    ----------
    name : str
        Canonical detector name, e.g. ``"IForest"``.
    description : str
        One paragraph on how the detector scores samples.
    pseudo_code : str
        The main steps, one ``* step`` bullet per line.
    title : str
        Long name used in the "main steps of ..." sentence.
    """

    name: str
    description: str
    pseudo_code: str
    title: str = ""

    @property
    def summary(self):
        """First sentence of the description (for listings)."""
        return self.description.split(". ")[0].rstrip(".") + "."

    def to_dict(self):
        """JSON-ready dict including the rendered ``text``."""
        return {**asdict(self), "summary": self.summary, "text": str(self)}

    def __str__(self):
        title = self.title or self.name
        return (f"{self.description}\n\nThe main steps of {title} for anomaly detection are:"
                f"\n\n{self.pseudo_code}")


def _steps(*steps):
    return "\n".join(f"* {s}" for s in steps)


_CARDS = (
    DetectorCard(
        name="IForest",
        title="Isolation Forest (IForest)",
        description=(
            "Isolation Forest (IForest) is an ensemble-based anomaly detection method that "
            "isolates anomalies instead of profiling normal data points. The key intuition is "
            "that anomalies are few and different, so they are easier to isolate using random "
            "partitions. IForest builds multiple random binary trees (isolation trees) by "
            "recursively splitting data based on randomly chosen features and split values. "
            "Data points that require fewer splits to be isolated are more likely to be "
            "anomalies, while normal points typically require more splits. The average path "
            "length across trees is used to compute an anomaly score, where shorter paths "
            "indicate higher anomaly likelihood."
        ),
        pseudo_code=_steps(
            "Randomly select a subsample of the training data to build each tree.",
            "For each tree, recursively split the data by choosing a random feature and a "
            "random split value within its range, until the data is isolated or the maximum "
            "tree depth is reached.",
            "For each sample, compute its path length (the number of splits required for "
            "isolation) in every tree.",
            "Average the path lengths across all trees and normalize them to compute the "
            "anomaly score.",
            "Classify samples as anomalies if their score exceeds a chosen threshold (higher "
            "score → more anomalous).",
        ),
    ),
    DetectorCard(
        name="PCA",
        title="Principal Component Analysis (PCA)",
        description=(
            "Principal Component Analysis (PCA) based anomaly detection models the normal "
            "training data by a set of orthogonal principal components, the directions of "
            "largest variance after standardizing each feature. Normal samples are well "
            "described by the major components, whereas anomalies tend to deviate along the "
            "minor components where the normal data show little variance. The anomaly score "
            "of a sample sums its distances to the principal component axes, each weighted by "
            "the inverse of the variance that component explains, so that deviations along "
            "low-variance directions count the most. Higher weighted deviation means a higher "
            "anomaly likelihood."
        ),
        pseudo_code=_steps(
            "Standardize every feature using the mean and standard deviation of the training "
            "data.",
            "Compute the covariance matrix of the standardized training data and its "
            "eigenvectors (principal components) and eigenvalues (explained variances).",
            "For each sample, compute its distance to every principal component axis.",
            "Weight each distance by the inverse of the explained variance ratio of that "
            "component and sum the weighted distances to obtain the anomaly score.",
            "Classify samples as anomalies if their score exceeds a chosen threshold (higher "
            "score → more anomalous).",
        ),
    ),
    DetectorCard(
        name="OCSVM",
        title="One-Class Support Vector Machine (OCSVM)",
        description=(
            "One-Class Support Vector Machine (OCSVM) learns a decision boundary that encloses "
            "the normal training data in a high-dimensional feature space induced by a kernel, "
            "typically the radial basis function kernel. It finds a maximum-margin hyperplane "
            "that separates the mapped training samples from the origin, while allowing a "
            "controlled fraction of training samples to fall outside the boundary. The "
            "resulting decision function is a weighted sum of kernel similarities to the "
            "support vectors. Samples that lie far outside the learned region, that is, with "
            "low kernel similarity to the support vectors, receive high anomaly scores."
        ),
        pseudo_code=_steps(
            "Map the training samples implicitly into a feature space with a kernel function "
            "(e.g. the radial basis function kernel).",
            "Solve the one-class quadratic optimization problem to find the support vectors, "
            "their weights and the offset that separate the training data from the origin "
            "with maximum margin.",
            "For each sample, compute the decision value as the weighted sum of kernel "
            "similarities to the support vectors minus the offset.",
            "Use the negative decision value as the anomaly score, so that samples outside "
            "the learned boundary receive higher scores.",
            "Classify samples as anomalies if their score exceeds a chosen threshold (higher "
            "score → more anomalous).",
        ),
    ),
    DetectorCard(
        name="ECOD",
        title="Empirical-Cumulative-distribution-based Outlier Detection (ECOD)",
        description=(
            "Empirical-Cumulative-distribution-based Outlier Detection (ECOD) is a parameter-"
            "free, distribution-based method that treats each feature independently. It "
            "estimates the empirical cumulative distribution function of every feature from "
            "the training data and measures how far into the left or right tail each feature "
            "value of a sample lies. Tail probabilities are converted to negative log values "
            "and aggregated over features, using the skewness of each feature to decide which "
            "tail matters. Samples whose values fall in the extreme tails of many features "
            "receive high anomaly scores, while samples inside the bulk of every marginal "
            "distribution are considered normal."
        ),
        pseudo_code=_steps(
            "For each feature, estimate the left-tail and right-tail empirical cumulative "
            "distribution functions from the training data.",
            "For each feature, compute its sample skewness to decide whether the left or the "
            "right tail is the natural tail for that feature.",
            "For each sample and feature, compute the negative log of the left-tail, the "
            "right-tail and the skewness-corrected tail probabilities.",
            "For each sample, take the largest of the three aggregated tail scores, where "
            "each aggregate sums the per-feature negative log tail probabilities, as the "
            "anomaly score.",
            "Classify samples as anomalies if their score exceeds a chosen threshold (higher "
            "score → more anomalous).",
        ),
    ),
    DetectorCard(
        name="LOF",
        title="Local Outlier Factor (LOF)",
        description=(
            "Local Outlier Factor (LOF) is a density-based anomaly detection method that "
            "compares the local density of a sample with the local densities of its nearest "
            "neighbors. The local density is the inverse of the average reachability distance "
            "from a sample to its neighbors, where the reachability distance is bounded below "
            "by the neighbor's own distance to its farthest neighbor. A sample in a region "
            "that is much sparser than the regions of its neighbors obtains a factor well "
            "above one and is considered anomalous, while samples with a density similar to "
            "their neighbors obtain a factor close to one. Because densities are compared "
            "locally, LOF can detect anomalies near clusters of different densities."
        ),
        pseudo_code=_steps(
            "For each training sample, find its nearest neighbors in the training data and "
            "the distance to its farthest neighbor (its neighborhood radius).",
            "Compute the reachability distance from a sample to each neighbor as the larger "
            "of their actual distance and the neighbor's neighborhood radius.",
            "Compute the local reachability density of each sample as the inverse of the "
            "mean reachability distance to its neighbors.",
            "For each sample, compute the local outlier factor as the mean ratio of the "
            "neighbors' local reachability densities to its own, and use it as the anomaly "
            "score.",
            "Classify samples as anomalies if their score exceeds a chosen threshold (higher "
            "score → more anomalous).",
        ),
    ),
    DetectorCard(
        name="KNN",
        title="k-Nearest Neighbors (KNN)",
        description=(
            "k-Nearest Neighbors (KNN) anomaly detection is a distance-based method that "
            "assumes normal samples lie in dense neighborhoods while anomalies are far from "
            "their closest normal samples. It stores the normal training data and, for each "
            "sample, finds its k nearest training neighbors. The anomaly score is the distance "
            "to the k-th nearest neighbor (or an average over the k neighbor distances), so "
            "isolated samples far from all training data receive high scores. The method "
            "makes no distributional assumption, but it relies on a global distance scale and "
            "treats every feature equally in the distance."
        ),
        pseudo_code=_steps(
            "Store the normal training data in a nearest-neighbor index.",
            "For each sample, find its k nearest neighbors among the training data using the "
            "Euclidean distance.",
            "Use the distance to the k-th nearest neighbor (or the mean or median of the k "
            "distances) as the anomaly score.",
            "Classify samples as anomalies if their score exceeds a chosen threshold (higher "
            "score → more anomalous).",
        ),
    ),
    DetectorCard(
        name="DRL",
        title="Decomposed Representation Learning (DRL)",
        description=(
            "Decomposed Representation Learning (DRL) is a deep one-class anomaly detection "
            "method that maps each sample into a latent representation and requires the "
            "representations of normal samples to be decomposable as a weighted combination of "
            "a small set of fixed, randomly drawn orthogonal basis vectors. An encoder network "
            "produces the representation and a separate weight network produces "
            "sample-specific, non-negative combination weights that sum to one. Training on "
            "normal data minimizes the decomposition error, with a reconstruction constraint "
            "that keeps the representation informative about the input and a diversity "
            "constraint that pushes the weights of different samples apart. Anomalies, which "
            "were never seen in training, are poorly reconstructed by the basis, so the "
            "decomposition error is the anomaly score."
        ),
        pseudo_code=_steps(
            "Draw a fixed set of random orthonormal basis vectors in the latent space.",
            "For each training sample, compute its latent representation with the encoder and "
            "its combination weights with the weight network (normalized with a softmax).",
            "Train both networks on normal samples to minimize the larger of the absolute and "
            "the relative decomposition error between the representation and the weighted "
            "sum of basis vectors, plus a small cosine reconstruction loss of the input from "
            "the representation and a small penalty on the cosine similarity between the "
            "weight vectors of different samples.",
            "For each sample, compute the mean squared difference between its representation "
            "and its weighted sum of basis vectors as the anomaly score.",
            "Classify samples as anomalies if their score exceeds a chosen threshold (higher "
            "score → more anomalous).",
        ),
    ),
)

CARDS = {card.name: card for card in _CARDS}


def get_card(name):
    """Return the :class:`DetectorCard` of ``name`` (case-insensitive).

    Raises
    ------
    UnknownDetector
        If ``name`` is not a registered detector.
    """
    return CARDS[canonical_name(name)]
