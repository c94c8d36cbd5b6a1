"""Deterministic-flow helpers on grids (fwpotential.geometry.flow)."""

import numpy as np

from fwpotential.geometry.flow import dilate


def test_dilate_grows_by_face_steps_and_does_not_wrap():
    m = np.zeros((6, 7), bool)
    m[0, 3] = True
    out = dilate(m, 2)
    i, j = np.nonzero(out)
    assert np.all(np.abs(i - 0) + np.abs(j - 3) <= 2)  # a diamond of radius 2 around (0, 3)
    assert out.sum() == 9  # the half of the diamond inside the box: 5 + 3 + 1 nodes
    assert not out[-2:].any()  # nothing wrapped to the far edge
    np.testing.assert_array_equal(dilate(m, 0), m)
