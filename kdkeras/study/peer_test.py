import json

import pytest

from kdkeras.errors import UsageError
from kdkeras.study import peer

PEER = {
    "source": "tools/torch_peer.py",
    "command": "python tools/torch_peer.py --seeds=0",
    "torch_version": "2.9.0+cpu",
    "machine": "AMD EPYC, 2 logical CPUs",
    "seeds": [0],
    "accuracy": {"teacher": 0.8635, "nokd": 0.8056, "blkd": 0.8189},
    "train_seconds": {"teacher": 3000.0, "nokd": 900.0, "blkd": 1200.0},
}


def test_a_peer_file_is_read_and_a_missing_one_is_none(tmp_path):
    path = tmp_path / "peer.json"
    assert peer.load(str(path)) is None
    path.write_text(json.dumps(PEER))
    assert peer.load(str(path)) == PEER


@pytest.mark.parametrize(
    "content",
    ["{not json", "[]", json.dumps({"accuracy": {}}), json.dumps({"accuracy": {"nokd": 80.56}})],
)
def test_a_bad_peer_file_is_one_line_naming_the_flag(tmp_path, content):
    path = tmp_path / "peer.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=r"^--peer=") as error:
        peer.load(str(path))
    assert "\n" not in str(error.value)
