"""The work of training, counted from what runs recorded: images through each network, and FLOPs.

Every trained model's record (`results.json["models"]`) says how many
images it was trained on (`images_trained`: epochs x training examples,
plus the images any extra update really forwarded and backpropagated,
`extra_update_images`: for WSKD's step 2 the metric `step2_images`, the
teacher's errors with an errors-only `step2_forward` (`"misclassified_own_statistics"`,
`"misclassified"`, `"misclassified_step1_statistics"`) but the whole batch
on every batch with an error with `"batch"`), how many
images each frozen model it learned from ran on during its training
(`frozen_forward_images`, 0 when their logits were cached) and which
caches were filled for it (`cache_fills`). The counts here add those up:

- a trained model passes `images_trained` forward and as many backward;
- a frozen model passes `frozen_forward_images` forward, plus each cache
  fill's images once per cache (a fill shared by several models, found by
  its key, counts once);
- training FLOPs = sum over networks of `forward * F + backward * 2F`, `F`
  the network's forward FLOPs per image (`kdkeras.models.count_flops`: 2
  per multiply-accumulate), a backward pass taken as twice a forward one;
- a model loaded from a checkpoint, or reused from another run's training
  (`reused_from`), is counted by `study_work` once, under its key;
- evaluation passes are not counted.
"""

import dataclasses

__all__ = ["Work", "run_work", "study_work", "extra_update_images", "EXTRA_UPDATE_IMAGES"]

# The per-epoch metric in which a distiller logs the images of its updates beyond one per batch.
EXTRA_UPDATE_IMAGES = "step2_images"
# What WSKD logged before it logged `step2_images`: the teacher's errors, not the images step 2 computed.
_ERRORS_ONLY = "step2_examples"


@dataclasses.dataclass
class Work:
    """Images forward and backward through each network (`"role(arch)"`), and the models trained."""

    networks: dict = dataclasses.field(default_factory=dict)
    models_trained: int = 0
    train_seconds: float = 0.0
    # The part of `train_seconds` spent filling teacher caches (timed inside the model that first needed each).
    cache_seconds: float = 0.0

    def _network(self, name, flops):
        return self.networks.setdefault(name, {"forward": 0, "backward": 0, "flops": int(flops)})

    @property
    def images_forward(self):
        return sum(n["forward"] for n in self.networks.values())

    @property
    def images_backward(self):
        return sum(n["backward"] for n in self.networks.values())

    @property
    def flops(self):
        return sum(n["forward"] * n["flops"] + n["backward"] * 2 * n["flops"] for n in self.networks.values())

    def describe(self):
        return "; ".join(f"{k}: fwd {n['forward']} bwd {n['backward']}" for k, n in self.networks.items())


def extra_update_images(rows):
    """Images forwarded and backpropagated by the updates beyond one per batch, over a model's history rows.

    `rows` are the per-epoch logs (dicts, as read from a history CSV). A row
    without `step2_images` but with `step2_examples` was logged before WSKD
    counted its step 2's images; its errors are taken, which undercounts a
    full-batch step 2.
    """
    total = 0.0
    for row in rows:
        value = row.get(EXTRA_UPDATE_IMAGES)
        if value in (None, ""):
            value = row.get(_ERRORS_ONLY)
        if value not in (None, ""):
            total += float(value)
    return int(round(total))


def _trained_here(record):
    return record.get("checkpoint") is None and record.get("epochs", 0) > 0


def _add(work, record, by_role, seen_fills):
    work.models_trained += 1
    work.train_seconds += float(record.get("train_seconds", 0.0))
    work.cache_seconds += float(record.get("cache_seconds") or 0.0)
    images = int(record.get("images_trained", 0))
    entry = work._network(f"{record['role']}({record['arch']})", record["flops"])
    entry["forward"] += images
    entry["backward"] += images
    for source, passes in (record.get("frozen_forward_images") or {}).items():
        if source in by_role:
            work._network(f"{source}({by_role[source]['arch']})", by_role[source]["flops"])["forward"] += int(passes)
    for fill in record.get("cache_fills") or []:
        key = fill.get("key")
        if key is not None and key in seen_fills:
            continue
        if key is not None:
            seen_fills.add(key)
        source = by_role.get(fill["model"])
        if source is not None:
            work._network(f"{fill['model']}({source['arch']})", source["flops"])["forward"] += int(fill["images"])


def run_work(payload):
    """The work one run's models cost, as if each was trained for it (reused ones included)."""
    work = Work()
    by_role = {r["role"]: r for r in payload["models"]}
    seen_fills = set()
    for record in payload["models"]:
        if _trained_here(record):
            _add(work, record, by_role, seen_fills)
    work.train_seconds = round(work.train_seconds, 3)
    work.cache_seconds = round(work.cache_seconds, 3)
    return work


def study_work(payloads):
    """The work of several runs together: each model (by `model_key`) and each cache fill (by key) once."""
    work = Work()
    seen_models, seen_fills = set(), set()
    for payload in payloads:
        by_role = {r["role"]: r for r in payload["models"]}
        for record in payload["models"]:
            key = record.get("model_key")
            if not _trained_here(record) or (key is not None and key in seen_models):
                continue
            if key is not None:
                seen_models.add(key)
            _add(work, record, by_role, seen_fills)
    work.train_seconds = round(work.train_seconds, 3)
    work.cache_seconds = round(work.cache_seconds, 3)
    return work
