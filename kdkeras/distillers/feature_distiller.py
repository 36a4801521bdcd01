"""FitNets: a student layer learns a teacher layer's feature map through a learned projection."""

import keras
import tensorflow as tf

from kdkeras import losses, ranges
from kdkeras.distillers.distiller import Distiller, split_inputs
from kdkeras.models import features


def _projection(student_shape, teacher_shape, student_layer, teacher_layer):
    """The linear map (1x1 convolution or dense) and batch norm from the student's features to the teacher's."""
    if len(student_shape) == len(teacher_shape) == 4:
        linear = keras.layers.Conv2D(teacher_shape[-1], 1, use_bias=False, name="projection_conv")
    elif len(student_shape) == len(teacher_shape) == 2:
        linear = keras.layers.Dense(teacher_shape[-1], use_bias=False, name="projection_dense")
    else:
        raise ValueError(
            f"student_layer {student_layer!r} gives features of shape {tuple(student_shape)} and teacher_layer "
            f"{teacher_layer!r} {tuple(teacher_shape)}: both must be maps (batch, height, width, channels) "
            "or both vectors (batch, features)"
        )
    inputs = (None, None, student_shape[-1]) if len(student_shape) == 4 else (student_shape[-1],)
    return keras.Sequential(
        [keras.Input(inputs), linear, keras.layers.BatchNormalization(synchronized=True, name="projection_bn")],
        name="projection",
    )


@keras.saving.register_keras_serializable(package="kdkeras")
class FeatureDistiller(Distiller):
    """FitNets: the student also regresses a teacher layer's features (one stage).

    The loss of each batch is the mean over the global batch of
    `ce_weight * CE(y, z_s) + hint_weight * hint + kd_weight * T^2 KL(p_t^T || p_s^T)`,
    where `hint = mean((P(f_s) - f_t)^2)` over the features of one example
    (`kdkeras.losses.hint_per_example`), `f_s` and `f_t` are the outputs of
    `student_layer` and `teacher_layer`, and `P` is a learned projection:
    a 1x1 convolution for feature maps (after bilinear resizing of the
    student's map to the teacher's height and width when they differ) or a
    dense layer for vectors, each followed by batch normalisation.

    The batch norm is that of RepDistiller's `ConvReg` (which mdistiller
    keeps): it standardises the projection's output whatever the scale of
    the student's features as they change during training, and its affine
    part learns each teacher channel's mean and scale, so the hint, weighted
    100, does not have to be met by the convolution's weights alone. Its
    beta is the projection's bias (the linear map has none, which the batch
    mean would cancel), and it is synchronised: under `tf.distribute` it
    normalises with the global batch's statistics, so the hint and the
    update do not depend on the number of replicas. The ReLU that `ConvReg`
    puts after it is left out: a layer named here may give negative values
    (a pre-activation or a linear bottleneck such as MobileNetV2's), which a
    ReLU could never match.

    Romero et al. train in two stages (hint first, then KD); this is the
    single-stage form of RepDistiller and mdistiller, whose CIFAR results
    practitioners compare against. It differs from the paper there.

    The projection belongs to training only: it is trained with the student
    (the optimizer updates both) but is no part of it, so `save_student`
    and everything exported from `distiller.student` is the plain student.
    The distiller's own `.keras` file keeps it (rebuilt from the config, its
    weights restored).

    The teacher runs at every step, in inference mode, for its features:
    feature maps are too large to cache per view, so FitNets costs a teacher
    forward pass per training example and epoch, unlike a logit method fed
    cached logits. A batch that carries cached `"teacher_logits"` is
    accepted, but they are not used: the optional KD term takes the logits
    of the same teacher pass as the features.

    Metrics: `loss`, `student_loss` (the CE), `distillation_loss` (the hint,
    unweighted), `kd_loss` (the KD term, unweighted, tracked even when
    `kd_weight` is 0) and the compiled ones such as `accuracy`.

    Args:
        student: `keras.Model` (functional or Sequential) mapping pixels to
            logits; it is trained.
        teacher: trained functional `keras.Model` with as many classes and
            input channels.
        student_layer: name of the student's guided layer; also found inside
            a nested model (a backbone). `None`: the end of the second stage
            of a kdkeras ResNet (`stage2_block{n}_out`); any other model
            needs a name.
        teacher_layer: name of the teacher's hint layer, as `student_layer`.
            Both must give maps (4-D) or both vectors (2-D).
        hint_weight: weight of the hint term, `>= 0` (100, RepDistiller's
            `-b 100` for FitNets on CIFAR-100).
        ce_weight: weight of the cross-entropy, `>= 0` (RepDistiller's
            `-r 1`).
        kd_weight: weight of the KD term, `>= 0` (RepDistiller's `-a 0`).
        temperature: softmax temperature `T > 0` of the KD term.
        logit_standardization: z-score the logits of the KD term (see
            `Distiller`).
        name: model name.

    Example:

    ```python
    teacher = keras.saving.load_model("resnet26_teacher.keras")
    train, test = ...  # tf.data.Datasets of (pixels, labels) batches
    student = kdkeras.models.get("resnet8", (32, 32, 3), 10)
    distiller = kdkeras.FeatureDistiller(student, teacher)  # stage2_block1_out <- stage2_block4_out
    distiller.compile(optimizer="sgd", metrics=["accuracy"])
    distiller.fit(train, epochs=10, validation_data=test)
    distiller.save_student("student.keras")  # without the projection
    ```

    Reference:
        Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015,
        arXiv 1412.6550. Single-stage form and weights: Tian et al.,
        "Contrastive Representation Distillation", ICLR 2020, code
        github.com/HobbitLong/RepDistiller (`scripts/run_cifar_distill.sh`:
        `--distill hint -a 0 -b 100`, `train_student.py`: `-r 1`,
        `--hint_layer 2`, `models/util.py`: `ConvReg`).
    """

    def __init__(
        self,
        student,
        teacher,
        student_layer=None,
        teacher_layer=None,
        hint_weight=100.0,
        ce_weight=1.0,
        kd_weight=0.0,
        temperature=4.0,
        logit_standardization=False,
        name="feature_distiller",
        **kwargs,
    ):
        for argument, value in (("hint_weight", hint_weight), ("ce_weight", ce_weight), ("kd_weight", kd_weight)):
            ranges.NON_NEGATIVE.check(argument, value)
        super().__init__(
            student,
            teacher,
            temperature=temperature,
            alpha=0.0,
            logit_standardization=logit_standardization,
            name=name,
            **kwargs,
        )
        self.student_layer = self._layer_name(student, student_layer, "student_layer")
        self.teacher_layer = self._layer_name(teacher, teacher_layer, "teacher_layer")
        self.hint_weight = float(hint_weight)
        self.ce_weight = float(ce_weight)
        self.kd_weight = float(kd_weight)
        self.student_extractor = features.feature_extractor(student, self.student_layer, "student_layer")
        self.teacher_extractor = features.feature_extractor(teacher, self.teacher_layer, "teacher_layer")
        self.teacher_extractor.trainable = False
        student_shape = self.student_extractor.outputs[0].shape
        teacher_shape = self.teacher_extractor.outputs[0].shape
        self.projection = _projection(student_shape, teacher_shape, self.student_layer, self.teacher_layer)
        self.kd_loss_tracker = keras.metrics.Mean(name="kd_loss")

    @staticmethod
    def _layer_name(model, layer, argument):
        if layer is not None:
            return layer
        default = features.default_hint_layer(model)
        if default is None:
            raise ValueError(
                f"{argument}: {model.name!r} is not a kdkeras ResNet, so there is no default layer; "
                "give the name of one of its layers (see `model.summary()`)"
            )
        return default

    @property
    def trained_variables(self):
        """The variables the optimizer updates: the student's and the projection's."""
        return self.student.trainable_variables + self.projection.trainable_variables

    def compile_from_config(self, config):
        config = keras.utils.deserialize_keras_object(config)
        self.compile(optimizer=config.get("optimizer"), metrics=config.get("metrics"))
        if self.optimizer is not None and self.built:
            self.optimizer.build(self.trained_variables)

    def _apply_student_update(self, scaled_loss, tape):
        variables = self.trained_variables
        self.optimizer.apply(tape.gradient(scaled_loss, variables), variables)

    def project(self, student_features, teacher_features, training):
        """The student's features mapped to the teacher's shape by the projection (float32)."""
        if len(teacher_features.shape) == 4 and student_features.shape[1:3] != teacher_features.shape[1:3]:
            student_features = tf.image.resize(student_features, tf.shape(teacher_features)[1:3], method="bilinear")
        return tf.cast(self.projection(student_features, training=training), tf.float32)

    def forward(self, data, training):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        images, _ = split_inputs(x)
        teacher_features, teacher_logits = features.features_and_logits(
            self.teacher_extractor, self.teacher, images, training=False
        )
        teacher_features, teacher_logits = tf.stop_gradient(teacher_features), tf.stop_gradient(teacher_logits)
        counts = losses.global_sum(tf.stack(self.local_counts(y, teacher_logits)))
        student_features, student_logits = features.features_and_logits(
            self.student_extractor, self.student, images, training=training
        )
        hint = losses.hint_per_example(teacher_features, self.project(student_features, teacher_features, training))
        ce = losses.cross_entropy_per_example(y, student_logits)
        kd = losses.kd_divergence_per_example(
            teacher_logits, student_logits, self.temperature, self.logit_standardization
        )
        total = self.ce_weight * ce + self.hint_weight * hint + self.kd_weight * kd
        self.kd_loss_tracker.update_state(losses.unscaled(losses.global_mean(kd, count=counts[0])))
        return self.step_outputs(
            (total, ce, hint),
            counts,
            images,
            y,
            student_logits,
            teacher_logits,
            layer_losses=self.student.losses + self.projection.losses,
        )

    def get_config(self):
        config = super().get_config()
        del config["alpha"]
        config.update(
            {
                "student_layer": self.student_layer,
                "teacher_layer": self.teacher_layer,
                "hint_weight": self.hint_weight,
                "ce_weight": self.ce_weight,
                "kd_weight": self.kd_weight,
            }
        )
        return config
