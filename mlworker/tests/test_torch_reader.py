"""The weight reader never runs code a crafted file names, whichever of its pickles holds it."""

import collections
import os
import pickle
import shlex

import pytest

from mlworker.models.efficientnet_lite.torch_reader import read_torch_state_dict

HEADER = (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True})
# The pickles of a legacy torch.save file, in order.
POSITIONS = ["magic number", "protocol version", "system info", "state dict", "storage keys"]


class WritesMarker:
    """Unpickled by plain `pickle.load`, this runs a shell command that creates `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def legacy_file(path, pickles) -> None:
    with open(path, "wb") as file:
        for value in pickles:
            pickle.dump(value, file, protocol=2)


def test_the_exploit_runs_code_under_plain_pickle(tmp_path):
    """The control: the same bytes do run the command when nothing guards the unpickling."""
    marker = tmp_path / "ran"
    legacy_file(tmp_path / "evil.pth", [WritesMarker(marker)])
    with open(tmp_path / "evil.pth", "rb") as file:
        pickle.load(file)
    assert marker.exists()


@pytest.mark.parametrize("position", POSITIONS)
def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path, position):
    marker = tmp_path / "ran"
    pickles = [*HEADER, collections.OrderedDict(), []]
    pickles[POSITIONS.index(position)] = WritesMarker(marker)
    legacy_file(tmp_path / "evil.pth", pickles)
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle"):
        read_torch_state_dict(tmp_path / "evil.pth")
    assert not marker.exists()


def test_a_file_with_nothing_crafted_reads_as_an_empty_state_dict(tmp_path):
    legacy_file(tmp_path / "empty.pth", [*HEADER, collections.OrderedDict(), []])
    assert read_torch_state_dict(tmp_path / "empty.pth") == {}
