"""The camera, in one place: poses on a Fibonacci sphere (the renders'), a pose from azimuth and
elevation (the CLI's), the default poses for views without camera data, the field of view, and the
gallery direction. Poses are camera-to-world 4 x 4 matrices in OpenGL's convention (the camera looks
down its -Z axis), +Y up."""

from __future__ import annotations

import math

import numpy as np
import torch

CAMERA_DISTANCE = 2.5  # the renders' distance from the origin (the unit sphere holds every shape)
UP = np.array([0.0, 1.0, 0.0])


def fibonacci_sphere(n: int) -> np.ndarray:
    """``n`` nearly evenly spread unit vectors (golden-angle spiral), float64 [n, 3]."""
    i = np.arange(n) + 0.5
    y = 1.0 - 2.0 * i / n
    r = np.sqrt(1.0 - y * y)
    theta = np.pi * (1.0 + np.sqrt(5.0)) * i
    return np.stack([r * np.cos(theta), y, r * np.sin(theta)], axis=1)


def look_at(eye: np.ndarray, target=(0.0, 0.0, 0.0), up: np.ndarray = UP) -> np.ndarray:
    """Camera-to-world pose in OpenGL convention (the camera looks down its -Z axis)."""
    eye = np.asarray(eye, np.float64)
    z = eye - np.asarray(target, np.float64)
    z /= np.linalg.norm(z)
    if abs(z @ up) > 0.999:  # looking straight up or down: any perpendicular up will do
        up = np.array([0.0, 0.0, 1.0])
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, np.cross(z, x), z, eye
    return pose


def camera_poses(num_views: int = 64, distance: float = CAMERA_DISTANCE) -> np.ndarray:
    return np.stack([look_at(d * distance) for d in fibonacci_sphere(num_views)])


def fov_for_unit_sphere(distance: float, margin_deg: float = 4.0) -> float:
    """Vertical field of view (radians) whose cone just holds the unit sphere, plus a margin."""
    return 2.0 * np.arcsin(1.0 / distance) + np.deg2rad(margin_deg)


GALLERY_DIRECTION = np.array([0.55, 0.45, 0.70])  # front-right, above: how people photograph furniture


def gallery_view(poses: np.ndarray, direction: np.ndarray = GALLERY_DIRECTION) -> int:
    """Index of the stored camera closest to ``direction`` (seen from the object)."""
    eyes = poses[:, :3, 3] / np.linalg.norm(poses[:, :3, 3], axis=1, keepdims=True)
    return int(np.argmax(eyes @ (direction / np.linalg.norm(direction))))


def camera_pose(azimuth_deg: float, elevation_deg: float, distance: float = CAMERA_DISTANCE) -> np.ndarray:
    """Camera-to-world pose looking at the origin from (azimuth, elevation), +Y up; azimuth 0 looks
    along -Z (the camera sits on +Z), 90 degrees puts it on +X."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    eye = np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)]) * distance
    return look_at(eye)


def default_angles(k: int) -> list[tuple[float, float]]:
    """(azimuth, elevation) in degrees of :func:`default_poses`."""
    d = GALLERY_DIRECTION / np.linalg.norm(GALLERY_DIRECTION)
    az, el = math.degrees(math.atan2(d[0], d[2])), math.degrees(math.asin(d[1]))
    return [((az + j * 360.0 / k) % 360.0, el) for j in range(k)]


def default_poses(k: int) -> np.ndarray:
    """Without given poses, image j is taken to look from the gallery direction (front-right,
    above) turned by j * 360/k degrees of azimuth."""
    return np.stack([camera_pose(az, el) for az, el in default_angles(k)])


def project(points: torch.Tensor, poses: torch.Tensor, yfov: float) -> tuple[torch.Tensor, torch.Tensor]:
    """World points [B, N, 3] seen by cameras [B, K, 4, 4] (camera-to-world, OpenGL: looking down -Z, +Y up,
    square images of vertical field of view ``yfov``): image coordinates [B, K, N, 2] in [-1, 1] (x right,
    y down; pixel centres of an R-pixel image at (2i + 1) / R - 1, ``grid_sample``'s convention with
    ``align_corners=False``) and the points in each camera's frame [B, K, N, 3] (depth is -z).

    The poses are rigid (a rotation and the camera's position), so the world-to-camera map is the
    transposed rotation: no matrix inverse, which would also wait for the GPU (not allowed in a CUDA graph)."""
    rot, eye = poses[..., :3, :3], poses[..., :3, 3]
    cam = torch.einsum("bkji,bknj->bkni", rot, points[:, None] - eye[..., None, :])
    depth = (-cam[..., 2]).clamp_min(1e-9)
    t = math.tan(yfov / 2)
    return torch.stack([cam[..., 0] / (depth * t), -cam[..., 1] / (depth * t)], -1), cam
