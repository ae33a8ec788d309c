from analysis import paper


def test_table_is_well_formed():
    points = paper.load_points()
    assert set(points.metric) == {"ring_accuracy_pct", "star_delta_accuracy_pct", "star_speedup_vs_ring"}
    assert points.source.notna().all() and (points.source != "").all()
    # Table 1: block = context / 4 in every row.
    assert (points.block_size * 4 == points.seq_len).all()
    assert not points.duplicated(["model", "benchmark", "seq_len", "metric"]).any()


def test_numbers_agree_with_the_abstract():
    # Abstract: "up to 11x" faster while "preserving 97-100% of accuracy". A typo in the
    # table (a misplaced digit) would break one of these.
    points = paper.load_points()
    speedups = paper.speedups(points)
    assert ((speedups.speedup > 1) & (speedups.speedup <= 11)).all()
    ratios = paper.accuracy_ratios(points)
    assert len(ratios) == 7
    assert ((ratios.ratio > 0.97) & (ratios.ratio < 1.02)).all()
    accuracy = points[points.metric == "ring_accuracy_pct"].value
    assert ((accuracy > 50) & (accuracy < 100)).all()
