"""Every distillation loss of kdkeras, written once and vectorised.

Notation of README.md's "The methods": `z_t`, `z_s` teacher and student logits, `y` the
true class, `T` the temperature, `p^T = softmax(z / T)`. Functions named
`*_per_example` return one value per example; `global_mean` turns them into
the mean over the *global* batch, which is what makes an update under
`tf.distribute` equal to the single-device update for the same batch.
"""

import tensorflow as tf

from kdkeras import ranges


def cross_entropy_per_example(labels, logits):
    """Cross-entropy of integer `labels` under `softmax(logits)`."""
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=tf.cast(logits, tf.float32))


STANDARDIZE_EPSILON = 1e-7


def standardize_logits(logits):
    """Z-score of each example's logits: `(z - mean(z)) / (std(z) + 1e-7)`.

    As the code of Sun et al. (2024) does: the sample standard deviation
    (divided by `K - 1`) and the epsilon added to it, so equal logits give
    zeros (a uniform softmax), not NaN. Their gradient there is finite but
    of order `1 / epsilon`.
    """
    logits = tf.cast(logits, tf.float32)
    centred = logits - tf.reduce_mean(logits, axis=-1, keepdims=True)
    classes = tf.cast(tf.shape(logits)[-1], tf.float32)
    variance = tf.reduce_sum(tf.square(centred), axis=-1, keepdims=True) / (classes - 1.0)
    return centred / (_safe_sqrt(variance) + STANDARDIZE_EPSILON)


def _safe_sqrt(value):
    """`sqrt(value)` whose gradient at 0 is 0 instead of NaN."""
    positive = value > 0
    return tf.where(positive, tf.sqrt(tf.where(positive, value, 1.0)), 0.0)


def _prepare_logits(logits, standardize):
    logits = tf.cast(logits, tf.float32)
    return standardize_logits(logits) if standardize else logits


def kd_divergence_per_example(teacher_logits, student_logits, temperature, standardize=False):
    """`T^2 * KL(p_t^T || p_s^T)`, computed from log-softmax for stability.

    The `T^2` keeps the gradient's scale independent of `T` (Hinton et al.).
    With `standardize`, both logits are z-scored first (`standardize_logits`).
    """
    temperature = tf.cast(temperature, tf.float32)
    log_p_t = tf.nn.log_softmax(_prepare_logits(teacher_logits, standardize) / temperature, axis=-1)
    log_p_s = tf.nn.log_softmax(_prepare_logits(student_logits, standardize) / temperature, axis=-1)
    kl = tf.reduce_sum(tf.exp(log_p_t) * (log_p_t - log_p_s), axis=-1)
    return temperature**2 * kl


def kd_loss_per_example(labels, student_logits, teacher_logits, temperature, alpha, standardize=False):
    """Baseline KD: `(1 - alpha) * CE + alpha * T^2 * KL(p_t^T || p_s^T)`.

    Returns `(total, ce, kd)`, each per example. `alpha` weights the KD term
    (in `keras.distillation` the weight given is the CE term's). The CE
    term always sees the raw logits; `standardize` z-scores only the KD's.
    """
    ce = cross_entropy_per_example(labels, student_logits)
    kd = kd_divergence_per_example(teacher_logits, student_logits, temperature, standardize)
    return (1.0 - alpha) * ce + alpha * kd, ce, kd


def growing_student_loss_per_example(
    labels, student_logits, teacher_logits, previous_logits, temperature, alpha, gamma, standardize=False
):
    """GSKD stage loss: `(1-a) CE + a T^2 KL(t || s) + g T^2 KL(prev || s)`.

    Returns `(total, ce, kd_teacher, kd_previous)`, each per example;
    `standardize` z-scores the logits of both KD terms.
    """
    total, ce, kd = kd_loss_per_example(labels, student_logits, teacher_logits, temperature, alpha, standardize)
    kd_previous = kd_divergence_per_example(previous_logits, student_logits, temperature, standardize)
    return total + gamma * kd_previous, ce, kd, kd_previous


DKD_MASK_OFFSET = 1000.0


def decoupled_kd_per_example(labels, student_logits, teacher_logits, temperature, alpha, beta, standardize=False):
    """DKD (Zhao et al. 2022): `alpha * TCKD + beta * NCKD`, per example.

    TCKD is `T^2 KL(b_t || b_s)` between the binary distributions
    `b = (p^T(y), 1 - p^T(y))`; NCKD is `T^2 KL(p~_t || p~_s)` between the
    distributions over the non-target classes, `p~_j = p^T_j / (1 - p^T(y))`.
    Both are computed in log space: `1 - p^T(y)` is the log-sum-exp of the
    other classes, and `p~` is the softmax of `z / T` with the target pushed
    down by 1000, as the authors' code (mdistiller) does. Returns
    `(total, tckd, nckd)`, each per example and each scaled by `T^2`.
    """
    temperature = tf.cast(temperature, tf.float32)
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    scaled_t = _prepare_logits(teacher_logits, standardize) / temperature
    scaled_s = _prepare_logits(student_logits, standardize) / temperature
    target = tf.one_hot(labels, tf.shape(scaled_s)[-1])

    def binary_log_probs(scaled):
        log_all = tf.reduce_logsumexp(scaled, axis=-1)
        log_target = tf.reduce_sum(target * scaled, axis=-1) - log_all
        log_other = tf.reduce_logsumexp(scaled - DKD_MASK_OFFSET * target, axis=-1) - log_all
        return tf.stack([log_target, log_other], axis=-1)

    def kl(log_p, log_q):
        return tf.reduce_sum(tf.exp(log_p) * (log_p - log_q), axis=-1)

    tckd = temperature**2 * kl(binary_log_probs(scaled_t), binary_log_probs(scaled_s))
    log_other_t = tf.nn.log_softmax(scaled_t - DKD_MASK_OFFSET * target, axis=-1)
    log_other_s = tf.nn.log_softmax(scaled_s - DKD_MASK_OFFSET * target, axis=-1)
    nckd = temperature**2 * kl(log_other_t, log_other_s)
    return alpha * tckd + beta * nckd, tckd, nckd


PEARSON_EPSILON = 1e-8


def _pearson_from_sums(products, student_squares, teacher_squares):
    """`cov / (|s| |t| + 1e-8)` from centred sums, as the cosine of the DIST code.

    A relation without variation (a uniform row, a batch of one) has
    correlation 0 and no gradient, rather than NaN.
    """
    return products / (_safe_sqrt(student_squares) * _safe_sqrt(teacher_squares) + PEARSON_EPSILON)


def correlation_kd_per_example(
    student_logits, teacher_logits, tau, inter_weight=1.0, intra_weight=1.0, standardize=False
):
    """DIST (Huang et al. 2022): inter- and intra-class Pearson relations.

    With `p = softmax(z / tau)`, the inter-class relation of an example is
    `tau^2 (1 - pearson(p_s[i, :], p_t[i, :]))`; the intra-class relation is
    `tau^2 mean_c (1 - pearson(p_s[:, c], p_t[:, c]))` over the examples of
    the *global* batch under `tf.distribute`: the class means and the centred
    sums are all-reduced (two collectives), so every replica holds the global
    value. Returns `(total, inter, intra)` per example, with the batch's
    intra value given to each of its examples: `global_mean` of it is that
    value, and its gradient summed across replicas is the single-device one
    (the all-reduce's gradient is an all-reduce). On a batch of one the
    intra relation is the constant `tau^2` (no variation, correlation 0).
    """
    tau = tf.cast(tau, tf.float32)
    p_s = tf.nn.softmax(_prepare_logits(student_logits, standardize) / tau, axis=-1)
    p_t = tf.nn.softmax(_prepare_logits(teacher_logits, standardize) / tau, axis=-1)

    centred_s = p_s - tf.reduce_mean(p_s, axis=-1, keepdims=True)
    centred_t = p_t - tf.reduce_mean(p_t, axis=-1, keepdims=True)
    inter_correlation = _pearson_from_sums(
        tf.reduce_sum(centred_s * centred_t, axis=-1),
        tf.reduce_sum(tf.square(centred_s), axis=-1),
        tf.reduce_sum(tf.square(centred_t), axis=-1),
    )
    inter = tau**2 * (1.0 - inter_correlation)

    num_classes = tf.shape(p_s)[-1]
    local_count = tf.cast(tf.shape(p_s)[:1], tf.float32)
    sums = global_sum(tf.concat([tf.reduce_sum(p_s, 0), tf.reduce_sum(p_t, 0), local_count], 0))
    count = tf.maximum(sums[-1], 1.0)
    class_centred_s = p_s - sums[:num_classes] / count
    class_centred_t = p_t - sums[num_classes : 2 * num_classes] / count
    centred_sums = global_sum(
        tf.concat(
            [
                tf.reduce_sum(class_centred_s * class_centred_t, 0),
                tf.reduce_sum(tf.square(class_centred_s), 0),
                tf.reduce_sum(tf.square(class_centred_t), 0),
            ],
            0,
        )
    )
    products, squares_s, squares_t = tf.split(centred_sums, 3)
    intra_value = tau**2 * tf.reduce_mean(1.0 - _pearson_from_sums(products, squares_s, squares_t))
    intra = tf.fill(tf.shape(inter), intra_value)
    return inter_weight * inter + intra_weight * intra, inter, intra


def hint_per_example(teacher_features, student_features):
    """FitNets' hint (Romero et al. 2015): mean squared difference over an example's features.

    `student_features` are already projected to the teacher's shape; the
    global mean of this is the mean squared error over the batch.
    """
    teacher = tf.cast(teacher_features, tf.float32)
    student = tf.cast(student_features, tf.float32)
    squared = tf.reshape(tf.square(student - teacher), [tf.shape(teacher)[0], -1])
    return tf.reduce_mean(squared, axis=-1)


def misclassified(teacher_logits, labels):
    """Boolean mask of the examples whose teacher argmax is not the label."""
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int64)
    return tf.not_equal(tf.argmax(teacher_logits, axis=-1), labels)


def lift_true_class(teacher_logits, labels, margin=1.0):
    """Corrects misclassified rows by raising the true logit to `max + margin`.

    Only the true class's logit changes, so every ratio among the other
    classes' probabilities is unchanged exactly; rows the teacher already
    gets right are returned untouched.
    """
    logits = tf.cast(teacher_logits, tf.float32)
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    true_class = tf.one_hot(labels, tf.shape(logits)[-1]) > 0
    lifted = tf.reduce_max(logits, axis=-1, keepdims=True) + margin
    corrected = tf.where(true_class, lifted, logits)
    return tf.where(misclassified(logits, labels)[:, None], corrected, logits)


def swap_true_class(teacher_logits, labels):
    """Corrects misclassified rows by exchanging the true and the top logit.

    As in Swapped Logit Distillation (Limantoro et al. 2025): the teacher's
    confidence moves to the true class and every other class keeps its value.
    """
    logits = tf.cast(teacher_logits, tf.float32)
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    num_classes = tf.shape(logits)[-1]
    true_class = tf.one_hot(labels, num_classes) > 0
    top_class = tf.one_hot(tf.argmax(logits, axis=-1, output_type=tf.int32), num_classes) > 0
    true_value = tf.reduce_sum(tf.where(true_class, logits, 0.0), axis=-1, keepdims=True)
    top_value = tf.reduce_max(logits, axis=-1, keepdims=True)
    swapped = tf.where(true_class, top_value, tf.where(top_class, true_value, logits))
    return tf.where(misclassified(logits, labels)[:, None], swapped, logits)


CORRECTIONS = ranges.WSKD_CORRECTIONS.choices


def correct_soft_labels(teacher_logits, labels, correction="lift", margin=1.0):
    """Applies the WSKD correction named `correction` (`lift` or `swap`)."""
    if correction == "lift":
        return lift_true_class(teacher_logits, labels, margin)
    if correction == "swap":
        return swap_true_class(teacher_logits, labels)
    raise ValueError(f"correction must be one of {CORRECTIONS}, got {correction!r}")


def wise_student_step2_per_example(labels, student_logits, corrected_logits, temperature, beta, standardize=False):
    """WSKD step-2 loss: `b CE + (1-b) T^2 KL(p~_t^T || p_s^T)`, per example.

    `standardize` z-scores the corrected and the student logits of the KD term.
    """
    ce = cross_entropy_per_example(labels, student_logits)
    kd = kd_divergence_per_example(corrected_logits, student_logits, temperature, standardize)
    return beta * ce + (1.0 - beta) * kd


def virtual_teacher_logits(labels, num_classes, correct_prob):
    """Tf-KD's virtual teacher as logits `log p_v`.

    `p_v(y) = correct_prob`, every other class `(1 - correct_prob)/(K - 1)`;
    softmax of `log p_v / T` is its softening at temperature `T`.
    """
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    other = (1.0 - correct_prob) / (num_classes - 1)
    probs = tf.where(tf.one_hot(labels, num_classes) > 0, correct_prob, other)
    return tf.math.log(probs)


def num_replicas():
    """Replicas taking part in the current step (1 outside tf.distribute)."""
    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def unscaled(value):
    """A replica's share of a global mean, times the replica count.

    Keras metrics sum-reduce over replicas and then average, so tracking
    this gives the global mean.
    """
    return value * tf.cast(num_replicas(), value.dtype)


def global_sum(value):
    """Sum of `value` over the replicas of the current step."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def global_mean(per_example, mask=None, count=None):
    """This replica's share of the mean of `per_example` over the global batch.

    Returns `sum_local / count_global`, optionally over the examples where
    `mask` is true. Gradients of it, summed across replicas as
    `tf.distribute` does, are the gradient of the global mean: the term is
    scaled once, here, and nowhere else. An empty selection gives 0.

    `count`, the global number of (selected) examples, is all-reduced here
    when not given; a train step that needs several means passes the count
    it reduced once, so that every replica issues the same collectives in
    the same order.
    """
    per_example = tf.cast(per_example, tf.float32)
    weights = tf.ones_like(per_example) if mask is None else tf.cast(mask, tf.float32)
    if count is None:
        count = global_sum(tf.reduce_sum(weights))
    return tf.math.divide_no_nan(tf.reduce_sum(per_example * weights), count)
