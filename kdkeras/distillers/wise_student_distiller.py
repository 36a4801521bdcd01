"""Wise Student KD: a second, masked update on what the teacher gets wrong."""

import keras
import tensorflow as tf

from kdkeras import losses, optimizers, ranges
from kdkeras.distillers.distiller import Distiller


def _apply_if(condition, update, args):
    """Runs `update(*args)` (an optimizer update) only where `condition` holds.

    `condition` must be the same on every replica. Under a multi-replica
    strategy the branch is taken in cross-replica context, as Keras's
    `LossScaleOptimizer` does, because a `tf.cond` in replica context may not
    contain the `merge_call` an optimizer update makes; `args` travel through
    `merge_call` so that each replica updates from its own examples.
    """

    def skip():
        pass

    context = tf.distribute.get_replica_context()
    if not tf.distribute.has_strategy() or context is None or context.num_replicas_in_sync == 1:
        tf.cond(condition, lambda: update(*args), skip)
        return

    def cross_replica(distribution, condition, *args):
        take = distribution.experimental_local_results(condition)[0]

        def for_each_replica():
            distribution.extended.call_for_each_replica(update, args=args)

        tf.cond(take, for_each_replica, skip)

    context.merge_call(cross_replica, args=(condition,) + tuple(args))


def _batch_norm_layers(model):
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def _moving_statistics(model):
    """The non-trainable variables of `model`'s batch-normalisation layers (moving mean and variance)."""
    return [v for layer in _batch_norm_layers(model) for v in layer.non_trainable_variables]


def _step1_statistics(model, before):
    """`[(variable, value)]`: each batch-norm layer's moving mean and variance set to the batch statistics
    step 1 normalised with, recovered from the moving average it made of them (`before` its values before
    step 1): `batch = (after - momentum * before) / (1 - momentum)`. A frozen layer, which step 1 ran in
    inference mode, keeps its moving statistics, as the formula gives."""
    found = []
    for layer in _batch_norm_layers(model):
        for variable, is_variance in ((layer.moving_mean, False), (layer.moving_variance, True)):
            old = before[id(variable)]
            value = (variable.value - layer.momentum * old) / (1.0 - layer.momentum)
            found.append((variable, tf.maximum(value, 0.0) if is_variance else value))
    return found


STEP2_REDUCTIONS = ranges.WSKD_STEP2_REDUCTIONS.choices
STEP2_FORWARDS = ranges.WSKD_STEP2_FORWARDS.choices
STEP2_REGULARIZATIONS = ranges.WSKD_STEP2_REGULARIZATIONS.choices


@keras.saving.register_keras_serializable(package="kdkeras")
class WiseStudentDistiller(Distiller):
    """WSKD: baseline KD, then a second update on the teacher's mistakes.

    For every batch, step 1 is one baseline-KD update of the student on the
    whole batch. Step 2 takes the examples the teacher misclassifies,
    corrects the teacher's soft labels so their maximum is at the true class
    (`lift`: raise the true logit to `max + margin`, keeping every ratio among
    the other classes; `swap`: exchange the true and the top logit), and
    makes a second update of the student on those examples only, with
    `beta * CE + (1 - beta) * T^2 * KL(p~_t^T || p_s^T)` averaged over the
    misclassified examples of the global batch (`step2_reduction=
    "misclassified"`, the definition), or summed over them and divided by
    the global batch size (`"batch"`: the second step shrinks with the
    teacher's error rate instead of taking a full step on one or two
    examples when the teacher is nearly always right).

    What step 2 computes (`step2_forward`): `"misclassified"` gathers the
    teacher's errors of each replica's batch and forwards and backpropagates
    only them, so its cost follows the teacher's error rate. The student runs
    them in inference mode: batch normalisation normalises them with its
    moving statistics (as at test time) and never updates those statistics
    from a handful of examples. `"misclassified_step1_statistics"` forwards
    the errors alone too, but normalises them with the batch statistics step
    1 normalised the whole batch with (per replica, averaged over the
    replicas as the moving statistics are), held constant: the errors are
    normalised as they were in step 1, not with moving statistics that lag
    behind the weights early in training. `"misclassified_own_statistics"`
    forwards the errors alone in training mode: batch normalisation
    normalises them with their own batch statistics (over each replica's
    errors, or all of them with synchronised batch norm), as step 1
    normalises the whole batch, and its moving statistics are restored to
    step 1's afterwards, whatever `step2_regularization` says (never an
    update of them from a handful of examples). `"batch"` forwards the
    whole batch in training mode (batch statistics of the whole batch) and
    masks the loss,
    so it costs a full forward and backward pass whenever a batch holds an
    error. A replica whose share of the batch has no error still takes part
    in the update, with a zero gradient (it forwards one of its examples at
    weight 0, not counted in `step2_images`).

    Regularisation (`step2_regularization`): with `"once"` the regularisers
    of a batch act once, in step 1, as for a one-update method: step 2's
    update makes no weight decay (Keras's decoupled `weight_decay` or
    kdkeras's L2 in the gradient, see `kdkeras.optimizers.
    without_weight_decay`), and batch normalisation's moving statistics are
    those step 1 left (with `step2_forward="batch"` they are restored after
    step 2's training-mode forward). `"twice"` is the original behaviour:
    step 2's update decays the weights again and its forward moves the
    moving statistics again.

    A batch without teacher errors skips step 2 entirely (the decision is
    taken on the global batch, the same on every replica), so weights and
    optimizer slots stay exactly as step 1 left them. `optimizer.iterations`
    counts batches, not updates, so a learning-rate schedule runs at the same
    pace as for the other methods. In the epoch's logs, `step2_examples`
    counts the teacher's errors that step 2 learned from and `step2_images`
    the images step 2 forwarded and backpropagated (the errors, or the whole
    global batch on each batch where step 2 ran with `step2_forward="batch"`):
    the work the accounting counts.

    With `second_update=False` (the ablation that separates
    WSKD's two ideas) the corrected soft labels replace the teacher's in
    step 1 and there is no step 2: one update per batch, like BLKD, whose
    KD term on the teacher's errors points at the true class. It logs no
    step-2 metrics.

    Args:
        student: `keras.Model` mapping pixels to logits; it is trained.
        teacher: trained `keras.Model` with as many classes (see `Distiller`).
        temperature: softmax temperature `T > 0`.
        alpha: weight of the KD term of step 1, in `[0, 1]`.
        beta: weight of the CE term of step 2, in `[0, 1]`.
        correction: `"lift"` (default) or `"swap"`.
        margin: for `lift`, how far above the teacher's top logit the true
            logit is raised (`>= 0`).
        step2_reduction: `"misclassified"` (default) or `"batch"`: what the
            step-2 loss is averaged over.
        step2_forward: which examples step 2 forwards and backpropagates,
            and how batch norm normalises them.
            `"misclassified_own_statistics"` (default): the teacher's errors
            alone, in training mode, normalised with their own batch
            statistics; the proposal's "update the student only using the
            misclassified samples", at about 1.2x BLKD's time from a cache.
            `"batch"`: the whole batch in training mode, the loss masked to
            the errors (the first study's; about 2x BLKD's time). `"misclassified"`: the
            errors in inference mode, with the moving statistics, and
            `"misclassified_step1_statistics"`: the errors with step 1's batch
            statistics held constant; both blew up in CIFAR-10's first epoch
            (seed 0), as a full step on a few hard examples through a frozen
            normalisation can change the activations' scale unchecked.
        logit_standardization: z-score the logits of both steps' KD terms
            (see `Distiller`).
        step2_regularization: `"once"` (default) or `"twice"`: whether step 2
            decays the weights and moves the batch-norm statistics again.
        second_update: `True` (default, WSKD); `False` for the ablation
            with the correction in step 1 and no step 2.
        name: model name.

    Example:

    ```python
    teacher = keras.saving.load_model("teacher.keras")
    train = ...  # a tf.data.Dataset of (pixels, labels) batches
    student = kdkeras.models.get("resnet8", (32, 32, 3), 10)
    distiller = kdkeras.WiseStudentDistiller(student, teacher, beta=0.5)
    distiller.compile(optimizer="sgd")
    history = distiller.fit(train, epochs=5)
    history.history["step2_examples"]  # the teacher's errors each epoch
    history.history["step2_images"]  # the images step 2 computed each epoch
    ```

    Reference:
        kdkeras's WSKD, from the project's research proposal (README.md,
        "The methods" and "WSKD details"); the `swap` correction is that of
        Limantoro et al., "Swapped Logit Distillation", 2025, arXiv 2504.20108.
    """

    def __init__(
        self,
        student,
        teacher,
        temperature=4.0,
        alpha=0.9,
        beta=0.5,
        correction="lift",
        margin=1.0,
        step2_reduction="misclassified",
        step2_forward="misclassified_own_statistics",
        step2_regularization="once",
        second_update=True,
        name="wise_student_distiller",
        **kwargs,
    ):
        ranges.WSKD_CORRECTIONS.check("correction", correction)
        ranges.PROBABILITY.check("beta", beta)
        ranges.NON_NEGATIVE.check("margin", margin)
        ranges.WSKD_STEP2_REDUCTIONS.check("step2_reduction", step2_reduction)
        ranges.WSKD_STEP2_FORWARDS.check("step2_forward", step2_forward)
        ranges.WSKD_STEP2_REGULARIZATIONS.check("step2_regularization", step2_regularization)
        super().__init__(student, teacher, temperature=temperature, alpha=alpha, name=name, **kwargs)
        self.beta = float(beta)
        self.correction = correction
        self.margin = float(margin)
        self.step2_reduction = step2_reduction
        self.step2_forward = step2_forward
        self.step2_regularization = step2_regularization
        self.second_update = bool(second_update)
        self.step2_loss_tracker = keras.metrics.Mean(name="step2_loss")
        self.step2_examples = keras.metrics.Sum(name="step2_examples")
        self.step2_images = keras.metrics.Sum(name="step2_images")

    def evaluate(self, *args, **kwargs):
        """Evaluation (and `fit`'s validation, which runs through it) makes no second update, so it leaves
        out the step-2 metrics rather than report them as zero."""
        self._evaluating = True
        try:
            return super().evaluate(*args, **kwargs)
        finally:
            self._evaluating = False

    def local_counts(self, labels, teacher_logits):
        wrong = losses.misclassified(teacher_logits, labels)
        return super().local_counts(labels, teacher_logits) + [tf.reduce_sum(tf.cast(wrong, tf.float32))]

    @property
    def metrics(self):
        """Step 2's metrics, where there is a step 2: in training, with the second update."""
        found = super().metrics
        if self.second_update and not getattr(self, "_evaluating", False):
            return found
        step2 = (self.step2_loss_tracker, self.step2_examples, self.step2_images)
        return [m for m in found if not any(m is s for s in step2)]

    def student_loss_terms(self, labels, student_logits, teacher_logits, cached, images, count):
        if not self.second_update:
            teacher_logits = losses.correct_soft_labels(teacher_logits, labels, self.correction, self.margin)
        return super().student_loss_terms(labels, student_logits, teacher_logits, cached, images, count)

    def before_first_update(self):
        if not self.second_update or self.step2_forward != "misclassified_step1_statistics":
            return None
        return {id(v): tf.identity(v.value) for v in _moving_statistics(self.student)}

    def after_first_update(self, images, labels, teacher_logits, counts, before):
        if not self.second_update:
            return
        wrong = losses.misclassified(teacher_logits, labels)
        local_errors = tf.reduce_sum(tf.cast(wrong, tf.float32))
        global_count = counts[1]
        taken = tf.cast(global_count > 0, tf.float32)
        self.step2_examples.update_state(local_errors)
        corrected = tf.stop_gradient(losses.correct_soft_labels(teacher_logits, labels, self.correction, self.margin))
        if self.step2_forward != "batch":
            # Each replica computes its own errors only. One without any (under tf.distribute, when
            # another has some) forwards its first example with weight 0: TensorFlow's convolutions
            # mishandle an empty batch, and the update needs every replica.
            where = tf.reshape(tf.where(wrong), [-1])
            found = tf.size(where)
            size = tf.minimum(tf.maximum(found, 1), tf.size(wrong))
            where = tf.concat([where, tf.zeros([1], where.dtype)], 0)[:size]
            images, labels, corrected = (tf.gather(t, where) for t in (images, labels, corrected))
            wrong = tf.range(size) < found
            self.step2_images.update_state(local_errors)
        else:
            self.step2_images.update_state(taken * tf.cast(tf.shape(labels)[0], tf.float32))
        training = self.step2_forward in ("batch", "misclassified_own_statistics")
        # Step 2 leaves the moving statistics as step 1 left them, except the full batch regularised twice
        # (an inference-mode forward does not move them; the step-1-statistics one sets them for the forward).
        restore_statistics = self.step2_forward != "misclassified" and not (
            self.step2_forward == "batch" and self.step2_regularization == "twice"
        )

        def second_update(images, labels, corrected, wrong, denominator, before):
            statistics = _moving_statistics(self.student) if restore_statistics else []
            saved = [tf.identity(v.value) for v in statistics]
            if before:
                for variable, value in _step1_statistics(self.student, before):
                    variable.assign(value)
            with tf.GradientTape() as tape:
                student_logits = self.student_logits(images, training)
                per_example = losses.wise_student_step2_per_example(
                    labels,
                    student_logits,
                    corrected,
                    self.temperature,
                    self.beta,
                    standardize=self.logit_standardization,
                )
                loss = losses.global_mean(per_example, mask=wrong, count=denominator) * self.loss_weight
                scaled_loss = self.optimizer.scale_loss(loss)
            for variable, value in zip(statistics, saved):
                variable.assign(value)
            if self.step2_regularization == "once":
                with optimizers.without_weight_decay(self.optimizer):
                    self._apply_student_update(scaled_loss, tape)
            else:
                self._apply_student_update(scaled_loss, tape)
            self.optimizer.iterations.assign_sub(1)
            self.step2_loss_tracker.update_state(losses.unscaled(loss))

        denominator = global_count if self.step2_reduction == "misclassified" else counts[0]
        _apply_if(global_count > 0, second_update, (images, labels, corrected, wrong, denominator, before))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta": self.beta,
                "correction": self.correction,
                "margin": self.margin,
                "step2_reduction": self.step2_reduction,
                "step2_forward": self.step2_forward,
                "step2_regularization": self.step2_regularization,
                "second_update": self.second_update,
            }
        )
        return config
