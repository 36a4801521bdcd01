"""Every distillation loss of kdkeras, written once and vectorised.

Notation of README.md's "The methods": `z_t`, `z_s` teacher and student logits, `y` the
true class, `T` the temperature, `p^T = softmax(z / T)`. Functions named
`*_per_example` return one value per example; `global_mean` turns them into
the mean over the *global* batch, which is what makes an update under
`tf.distribute` equal to the single-device update for the same batch.
"""

import tensorflow as tf


def cross_entropy_per_example(labels, logits):
    """Cross-entropy of integer `labels` under `softmax(logits)`."""
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=tf.cast(logits, tf.float32))


def kd_divergence_per_example(teacher_logits, student_logits, temperature):
    """`T^2 * KL(p_t^T || p_s^T)`, computed from log-softmax for stability.

    The `T^2` keeps the gradient's scale independent of `T` (Hinton et al.).
    """
    temperature = tf.cast(temperature, tf.float32)
    log_p_t = tf.nn.log_softmax(tf.cast(teacher_logits, tf.float32) / temperature, axis=-1)
    log_p_s = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / temperature, axis=-1)
    kl = tf.reduce_sum(tf.exp(log_p_t) * (log_p_t - log_p_s), axis=-1)
    return temperature**2 * kl


def kd_loss_per_example(labels, student_logits, teacher_logits, temperature, alpha):
    """Baseline KD: `(1 - alpha) * CE + alpha * T^2 * KL(p_t^T || p_s^T)`.

    Returns `(total, ce, kd)`, each per example. `alpha` weights the KD term
    (in `keras.distillation` the weight given is the CE term's).
    """
    ce = cross_entropy_per_example(labels, student_logits)
    kd = kd_divergence_per_example(teacher_logits, student_logits, temperature)
    return (1.0 - alpha) * ce + alpha * kd, ce, kd


def growing_student_loss_per_example(
    labels, student_logits, teacher_logits, previous_logits, temperature, alpha, gamma
):
    """GSKD stage loss: `(1-a) CE + a T^2 KL(t || s) + g T^2 KL(prev || s)`.

    Returns `(total, ce, kd_teacher, kd_previous)`, each per example.
    """
    total, ce, kd = kd_loss_per_example(labels, student_logits, teacher_logits, temperature, alpha)
    kd_previous = kd_divergence_per_example(previous_logits, student_logits, temperature)
    return total + gamma * kd_previous, ce, kd, kd_previous


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


CORRECTIONS = ("lift", "swap")


def correct_soft_labels(teacher_logits, labels, correction="lift", margin=1.0):
    """Applies the WSKD correction named `correction` (`lift` or `swap`)."""
    if correction == "lift":
        return lift_true_class(teacher_logits, labels, margin)
    if correction == "swap":
        return swap_true_class(teacher_logits, labels)
    raise ValueError(f"correction must be one of {CORRECTIONS}, got {correction!r}")


def wise_student_step2_per_example(labels, student_logits, corrected_logits, temperature, beta):
    """WSKD step-2 loss: `b CE + (1-b) T^2 KL(p~_t^T || p_s^T)`, per example."""
    ce = cross_entropy_per_example(labels, student_logits)
    kd = kd_divergence_per_example(corrected_logits, student_logits, temperature)
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
