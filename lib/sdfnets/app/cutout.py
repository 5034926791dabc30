"""An object cut out of a photo's background, and framed like the renders, with no learned weights.

The models saw one object on white, filling about 80 % of the view. A photo has a background: the object's
mask is taken from its alpha channel when it has one, otherwise found by scikit-image's random walker
(Grady, 2006) seeded with the photo's border as background and an ellipse at its centre as the object, the
classical, weight-free route (GrabCut's role; OpenCV is not a dependency here). The largest region, holes
filled, is the object; it is put on white and framed like the renders.
"""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image
from scipy import ndimage

from ..data.render import FOREGROUND_BELOW

WORK_SIZE = 160  # the random walker runs on the photo shrunk to this side: a second on a CPU
FILL = 0.8  # the object's longer side over the view's, as in the renders


def object_mask(image: np.ndarray, border: float = 0.04, centre: float = 0.16, beta: float = 90.0) -> np.ndarray:
    """bool [H, W]: the object of an RGB photo (uint8 [H, W, 3]), the border band (``border`` of each side)
    seeding the background and a centred ellipse (semi-axes ``centre`` of each side) the object."""
    from skimage.color import rgb2lab
    from skimage.segmentation import random_walker

    h, w = image.shape[:2]
    scale = WORK_SIZE / max(h, w)
    small = np.asarray(Image.fromarray(image).resize((max(8, round(w * scale)), max(8, round(h * scale))),
                                                     Image.Resampling.LANCZOS))
    sh, sw = small.shape[:2]
    lab = rgb2lab(small)
    lab = (lab - lab.reshape(-1, 3).mean(0)) / (lab.reshape(-1, 3).std(0) + 1e-6)
    seeds = np.zeros((sh, sw), np.int32)
    b = max(1, round(border * min(sh, sw)))
    seeds[:b], seeds[-b:], seeds[:, :b], seeds[:, -b:] = 1, 1, 1, 1
    yy, xx = np.mgrid[:sh, :sw]
    seeds[((yy - sh / 2) / (centre * sh)) ** 2 + ((xx - sw / 2) / (centre * sw)) ** 2 <= 1] = 2
    with warnings.catch_warnings():  # probabilities a hair outside [0, 1] at this tolerance: only the argmax is used
        warnings.simplefilter("ignore", UserWarning)
        labels = random_walker(lab, seeds, beta=beta, mode="cg_j", channel_axis=-1, tol=1e-3)
    mask = labels == 2
    parts, n = ndimage.label(mask)
    if n > 1:
        mask = parts == 1 + np.argmax(np.bincount(parts.ravel())[1:])
    mask = ndimage.binary_fill_holes(mask)
    big = Image.fromarray(mask.astype(np.uint8) * 255).resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(big) >= 128


def on_white(image: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """The masked object on white, centred in a square view of side ``size`` with its longer side ``FILL`` of it."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        raise ValueError("no object found")
    # the object's own near-white pixels (a white cup) darkened just below what reads as background
    out = np.where(mask[..., None], np.minimum(image, FOREGROUND_BELOW - 6), 255).astype(np.uint8)
    crop = out[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    side = int(np.ceil(max(crop.shape[:2]) / FILL))
    square = np.full((side, side, 3), 255, np.uint8)
    y0, x0 = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]] = crop
    return np.asarray(Image.fromarray(square).resize((size, size), Image.Resampling.LANCZOS))
