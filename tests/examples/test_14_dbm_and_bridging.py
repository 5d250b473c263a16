"""examples/14_dbm_and_bridging.py --fast runs and its numbers mean what the tutorial says."""


def test_dbm_and_bridging_example_fast(tmp_path, run_example):
    r = run_example("14_dbm_and_bridging.py", tmp_path, timeout=240)
    mse = r["dbm"]["fou_from_pix_mse"]
    # pix alone carries fou's information through the shared layer; joint training is what makes it so
    assert mse["DBM mean-field"] < 0.9 * mse["mean imputation"]
    assert mse["DBM mean-field"] < mse["DBM pretrained only"] - 0.05
    assert r["dbm"]["accuracy"]["DBM joint"] > 0.85
    m = r["bridging"]["fou_to_kar_map"]
    # fou and kar never co-occur, yet the bridge retrieves across them, better than the linear bridge,
    # and below the CorrNet that sees the (fou, kar) pairs
    assert m["untrained"] < 0.2 < 0.5 < m["Bridge CorrNet"]
    assert m["linear bridge"] + 0.05 < m["Bridge CorrNet"] < m["CorrNet, parallel pairs"]
    assert (tmp_path / "dbm_bridging.png").stat().st_size > 5000
