"""Property-based fuzzing (hypothesis) of the readers a user's files go through: meshes, images and
corpus packs. Random bytes and mutations of valid files must either load or be refused with the
project's own error type, never crash with another exception."""

import io
import zipfile

import numpy as np
import pytest
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdfnets.data import meshes
from sdfnets.data import pack as pack_mod
from sdfnets.app.image2mesh import InputError, load_image

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


VALID = {}


def _valid(suffix: str) -> bytes:
    if suffix not in VALID:
        out = trimesh.creation.icosphere(subdivisions=1).export(file_type=suffix[1:])
        VALID[suffix] = out.encode() if isinstance(out, str) else out
    return VALID[suffix]


def _mutate(data: bytes, flips: list[tuple[int, int]], cut: int) -> bytes:
    b = bytearray(data)
    for pos, val in flips:
        b[pos % len(b)] = val
    return bytes(b[: max(1, cut % (len(b) + 1))])


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".stl", ".off", ".glb"])
@FAST
@given(data=st.binary(max_size=2048), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
       cut=st.integers(0, 10**6), mutate=st.booleans())
def test_mesh_reader(tmp_path_factory, suffix, data, flips, cut, mutate):
    path = tmp_path_factory.getbasetemp() / f"fuzz{suffix}"
    path.write_bytes(_mutate(_valid(suffix), flips, cut) if mutate else data)
    try:
        mesh = meshes.load_mesh(path)
    except meshes.MeshError:
        return
    assert np.isfinite(mesh.vertices).all() and len(mesh.faces) > 0


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.arange(48 * 48 * 3, dtype=np.uint8).reshape(48, 48, 3)).save(buf, format="PNG")
    return buf.getvalue()


PNG = _png()


@FAST
@given(data=st.binary(max_size=4096), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
       cut=st.integers(0, 10**6), mutate=st.booleans())
def test_image_reader(data, flips, cut, mutate):
    try:
        img = load_image(_mutate(PNG, flips, cut) if mutate else data, name="fuzz")
    except InputError:
        return
    assert img.ndim == 3 and img.shape[2] == 3


def _small_pack() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("pack.json", b'{"shapes": [{"uid": "a", "category": "c", "mesh": "meshes/0000.drc", '
                                b'"mesh_sha256": "00"}], "failed": []}')
        z.writestr("CREDITS.md", b"credits")
        z.writestr("meshes/0000.drc", b"draco?")
    return buf.getvalue()


SMALL_PACK = _small_pack()


@FAST
@given(data=st.binary(max_size=2048), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
       cut=st.integers(0, 10**6), mutate=st.booleans())
def test_pack_reader(tmp_path_factory, data, flips, cut, mutate):
    path = tmp_path_factory.getbasetemp() / "fuzz.zip"
    path.write_bytes(_mutate(SMALL_PACK, flips, cut) if mutate else data)
    try:
        p = pack_mod.Pack(path, verify=False)
        p.manifest, p.credits
        p.mesh("a")
    except ValueError:
        return


DRACO = pack_mod.encode_mesh(trimesh.creation.icosphere(subdivisions=1)) if hasattr(pack_mod, "encode_mesh") else None


@pytest.mark.skipif(DRACO is None, reason="no Draco encoder")
@FAST
@given(data=st.binary(max_size=2048), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
       cut=st.integers(0, 10**6), mutate=st.booleans())
def test_draco_decoder(data, flips, cut, mutate):
    try:
        mesh = pack_mod.decode_mesh(_mutate(DRACO, flips, cut) if mutate else data)
    except ValueError:
        return
    assert len(mesh.vertices) == 0 or np.asarray(mesh.faces).max(initial=-1) < len(mesh.vertices)


def test_a_damaged_member_is_a_value_error(tmp_path):
    """Found by the fuzzer: bytes damaged inside a member (bad CRC, bad deflate stream) reached the
    user as zipfile/zlib errors; they are the project's ValueError naming the member."""
    import io
    import zipfile

    info = zipfile.ZipFile(io.BytesIO(SMALL_PACK)).getinfo("pack.json")
    h = info.header_offset  # the local header's own name and extra lengths (they may differ from the directory's)
    start = h + 30 + int.from_bytes(SMALL_PACK[h + 26:h + 28], "little") + int.from_bytes(SMALL_PACK[h + 28:h + 30], "little")
    for offset in (start, start + info.compress_size // 2):  # (the last byte can be padding bits)
        damaged = bytearray(SMALL_PACK)
        damaged[offset] ^= 0xFF
        (tmp_path / "p.zip").write_bytes(bytes(damaged))
        with pytest.raises(ValueError, match="pack.json"):
            pack_mod.Pack(tmp_path / "p.zip", verify=False).manifest


MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "YCbCr", "HSV"]


@settings(max_examples=120, deadline=None)
@given(mode=st.sampled_from(MODES), w=st.integers(1, 4000), h=st.integers(1, 4000), value=st.integers(0, 65535),
       fmt=st.sampled_from(["PNG", "TIFF", "WEBP", "JPEG", "BMP"]))
def test_image_reader_any_mode_and_shape(mode, w, h, value, fmt):
    """Every mode, bit depth and aspect (1 x 4000 included) the loader may meet: a renders-like image
    (bounded intermediates), or the loader's own one-line refusal."""
    from PIL import Image

    if w * h > 2_000_000:  # keep each example small in memory; the thin extremes stay in
        h = max(1, 2_000_000 // w)
    fill = {"I;16": value, "I": value, "F": value / 65535}.get(mode, value % 256)
    img = Image.new(mode, (w, h), fill)
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt)
    except (OSError, ValueError, KeyError):  # this format cannot hold this mode: nothing to load
        return
    try:
        out = load_image(buf.getvalue(), name="fuzz")
    except InputError:
        return
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8


@settings(max_examples=300, deadline=None)
@given(rel=st.text(alphabet=st.sampled_from(list("ab./\\~ $:%")), max_size=24))
def test_metadata_paths_never_lead_out(tmp_path_factory, rel):
    from sdfnets.io import OutsideRoot, inside

    root = tmp_path_factory.mktemp("root", numbered=True)
    try:
        p = inside(root, rel)
    except OutsideRoot:
        return
    assert p.resolve().is_relative_to(root.resolve())
