"""``vidaction write-sidecars``: sidecars for ActionFormer-style features (each video at its own rate),
kept on a rerun, bad files listed with exit status 1, usage errors with 2."""

import json

import numpy as np


def test_sidecars_for_actionformer_style_features(tmp_path, cli):
    folder = tmp_path / "i3d_features"
    folder.mkdir()
    for name in ("video_test_1", "video_test_2"):
        np.save(folder / f"{name}.npy", np.zeros((12, 8), np.float32))
    rates = tmp_path / "thumos14.json"
    rates.write_text(json.dumps({"database": {"video_test_1": {"fps": 30.0}, "video_test_2": {"fps": 29.97}}}))
    args = ("write-sidecars", folder, "--fps-from", rates, "--stride", 4, "--window", 16, "--stream", "rgb+flow",
            "--extractor", "i3d")
    assert "2 sidecars written, 0 kept" in cli(*args).stdout
    first = json.loads((folder / "video_test_1.json").read_text())
    assert first["feature_fps"] == 7.5 and first["time_offset"] == 16 / 2 / 30.0 and first["shape"] == [12, 8]
    assert {k: first[k] for k in ("fps", "stride", "window", "stream", "layout", "num_channels", "extractor")} == dict(
        fps=30.0, stride=4, window=16, stream="rgb+flow", layout="TC", num_channels=8, extractor="i3d")
    assert json.loads((folder / "video_test_2.json").read_text())["feature_fps"] == 29.97 / 4
    assert "0 sidecars written, 2 kept" in cli(*args).stdout


def test_bad_files_are_listed_and_usage_errors_refused(tmp_path, cli):
    np.save(tmp_path / "good.npy", np.zeros((5, 4), np.float32))
    np.save(tmp_path / "flat.npy", np.zeros(5, np.float32))
    listed = cli("write-sidecars", tmp_path, "--fps", 25, "--stride", 4, "--window", 16, "--stream", "rgb",
                 check=False)
    assert listed.returncode == 1 and "1 sidecars written, 0 kept" in listed.stdout
    assert f"bad: {tmp_path / 'flat.npy'}: shape (5,)" in listed.stdout and not (tmp_path / "flat.json").exists()
    for args, message in ((("--stride", 4), "give --fps, --fps-from or both"), (("--fps", 25, "--stride", 0), "stride")):
        refused = cli("write-sidecars", tmp_path, "--window", 16, "--stream", "rgb", *args, check=False)
        assert refused.returncode == 2 and message in refused.stderr
    cube = cli("write-sidecars", tmp_path, "--fps", 25, "--stride", 4, "--window", 16, "--stream", "rgb", "--layout",
               "CTHW", "--overwrite", check=False)
    assert cube.returncode == 1 and "0 sidecars written" in cube.stdout and "is not CTHW" in cube.stdout
    missing = cli("write-sidecars", tmp_path / "none", "--fps", 25, "--stride", 4, "--window", 16, "--stream", "rgb",
                  check=False)
    assert missing.returncode == 2 and "no such folder" in missing.stderr
