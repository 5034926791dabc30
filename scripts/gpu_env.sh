# Source from the repository root on a GPU node without network: `source scripts/gpu_env.sh`.
# Unpacks the GL loaders from .gl/ and the packages of .site.tar.xz (see scripts/gpu_deps.sh) into
# /tmp/site, and sets the variables headless rendering and the library need.
if compgen -G ".gl/*.deb" >/dev/null; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
export PYTHONPATH=$PWD/lib
if [ -f .site.tar.xz ]; then
  [ -d /tmp/site ] || tar -xJf .site.tar.xz -C /tmp
  export PYTHONPATH=/tmp/site:$PWD/lib
fi
_nv=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
if [ -f "$_nv" ] && ! compgen -G "/usr/share/glvnd/egl_vendor.d/*nvidia*" >/dev/null; then
  export __EGL_VENDOR_LIBRARY_FILENAMES=$_nv
fi
export PYGLET_HEADLESS=true PYOPENGL_PLATFORM=egl PYTHONUNBUFFERED=1
