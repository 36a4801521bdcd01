from kdkeras import accounting

N, F_TEACHER, F1, F2 = 1000, 100, 10, 30


def gskd_payload(cache_key=None):
    """GSKD from a loaded teacher: stage 2 learns from the teacher and stage 1 (cached)."""
    return {
        "models": [
            {
                "role": "teacher",
                "arch": "t",
                "flops": F_TEACHER,
                "epochs": 0,
                "checkpoint": "/x/teacher.keras",
                "model_key": "T",
            },
            {
                "role": "stage1",
                "arch": "s1",
                "flops": F1,
                "epochs": 2,
                "images_trained": 2 * N,
                "frozen_forward_images": {"teacher": 2 * N},
                "train_seconds": 1.0,
                "model_key": "S1",
            },
            {
                "role": "stage2",
                "arch": "s2",
                "flops": F2,
                "epochs": 2,
                "images_trained": 2 * N + 7,
                "frozen_forward_images": {"teacher": 0, "stage1": 0},
                "train_seconds": 2.0,
                "model_key": "S2",
                "cache_fills": [
                    {"model": "teacher", "key": cache_key, "images": N},
                    {"model": "stage1", "key": None, "images": N},
                ],
            },
        ]
    }


def test_one_run_is_counted_as_documented():
    work = accounting.run_work(gskd_payload())
    assert work.models_trained == 2  # the loaded teacher is not trained here
    assert work.images_backward == 2 * N + 2 * N + 7
    teacher = work.networks["teacher(t)"]
    assert teacher == {"forward": 2 * N + N, "backward": 0, "flops": F_TEACHER}
    assert work.networks["stage1(s1)"]["forward"] == 2 * N + N
    expected = (2 * N * F1 * 3) + ((2 * N + 7) * F2 * 3) + (3 * N * F_TEACHER) + (N * F1)
    assert work.flops == expected
    assert work.train_seconds == 3.0


def test_a_study_counts_each_model_and_each_shared_cache_once():
    # Two runs that trained the same stage 1 (same key) and filled one shared teacher cache.
    first, second = gskd_payload("C"), gskd_payload("C")
    work = accounting.study_work([first, second])
    assert work.models_trained == 2
    assert work.networks["teacher(t)"]["forward"] == 2 * N + N  # one fill of cache C
    alone = accounting.run_work(first)
    assert work.flops == alone.flops


def test_distinct_models_add_up():
    first, second = gskd_payload(), gskd_payload()
    for record in second["models"]:
        record["model_key"] = record["model_key"] + "'"
    assert accounting.study_work([first, second]).models_trained == 4


def test_extra_update_images_are_those_step_two_computed():
    # Full-batch step 2 on 3 of 4 batches of 32 (9 errors): 96 images, not 9.
    rows = [
        {"epoch": "0", "step2_examples": "9", "step2_images": "96"},
        {"epoch": "1", "step2_examples": "4", "step2_images": "64"},
    ]
    assert accounting.extra_update_images(rows) == 160
    assert accounting.extra_update_images([{"epoch": "0", "loss": "1.0"}]) == 0  # one update per batch
    assert accounting.extra_update_images([{"step2_examples": "7"}]) == 7  # a log from before step2_images


def test_a_wskd_run_counts_its_step_two_images_forward_and_backward():
    step2_images = 3 * N // 4
    record = {"role": "student", "arch": "s", "flops": F1, "epochs": 1, "images_trained": N + step2_images}
    work = accounting.run_work({"models": [record]})
    assert work.networks["student(s)"] == {"forward": N + step2_images, "backward": N + step2_images, "flops": F1}
    assert work.flops == 3 * F1 * (N + step2_images)
