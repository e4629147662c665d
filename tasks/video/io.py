"""Video decoding and encoding with PyAV (bundles FFmpeg; torchvision 0.26 has no video reader).

``decode_clip`` reads one file and returns a fixed-length uint8 clip (T, C, H, W): every
``step``-th decoded frame (the paper samples one frame in five), resized to ``size``×``size``
by FFmpeg's scaler, and the ``num_frames`` sampled frames at the centre of the video.

Bad files (the suite's one contract, ``core/bad_data.py``): a file that cannot be opened, that
decodes to no frame, that stops decoding with an error, or that decodes to fewer frames than its
container declares (a truncated copy) raises ``VideoDecodeError`` naming it; so does a video
whose sampled frames fall short of the clip length (``ShortVideoError``, ``short="refuse"``, the
default). The loaders decide whether to stop or to skip and count it (``on_error``). Padding a
short but intact video by repeating its last sampled frame is an explicit choice
(``short="pad"``); the count of padded clips is returned and recorded.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch


from core.bad_data import BadDataError


class VideoDecodeError(BadDataError):
    """A video file is corrupt, truncated or unreadable; the message names the file."""


class ShortVideoError(VideoDecodeError):
    """A video yields fewer sampled frames than the clip length and padding is off."""


def _av():
    try:
        import av
    except ImportError as exc:   # pragma: no cover - exercised only without the extra
        raise ImportError("video decoding needs PyAV: pip install -e '.[video]' "
                          "(av==18.1.0)") from exc
    return av


def decode_clip(path: str | Path, num_frames: int, size: int, step: int = 5,
                short: Literal["pad", "refuse"] = "refuse") -> tuple[torch.Tensor, int]:
    """``(clip, padded)``: a (num_frames, 3, size, size) uint8 clip and how many frames were
    padded by repetition. Raises ``VideoDecodeError`` naming ``path`` when it cannot be read."""
    if num_frames < 1 or size < 1 or step < 1:
        raise ValueError(f"need num_frames, size and step ≥ 1, got {num_frames}, {size}, {step}")
    av = _av()
    path = Path(path)
    sampled: list[np.ndarray] = []
    decoded, declared = 0, 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(path, "no video stream")
            stream = container.streams.video[0]
            declared = int(stream.frames or 0)
            for index, frame in enumerate(container.decode(stream)):
                decoded = index + 1
                if index % step == 0:
                    sampled.append(frame.to_ndarray(format="rgb24", width=size, height=size))
    except VideoDecodeError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        what = (f"truncated or corrupt: decoding stopped after {decoded} frame(s)" if decoded
                else "cannot decode")
        raise VideoDecodeError(path, f"{what} ({type(exc).__name__}: {exc})") from None
    if not sampled:
        raise VideoDecodeError(path, "no frame could be decoded (empty or corrupt file)")
    if declared and decoded < declared:
        raise VideoDecodeError(path, f"truncated: {decoded} of the {declared} frames its "
                                     f"container declares could be decoded")
    padded = 0
    if len(sampled) < num_frames:
        if short == "refuse":
            raise ShortVideoError(path, f"{len(sampled)} sampled frames (one in {step} of "
                                        f"{decoded}), fewer than the clip length {num_frames}; "
                                        f"lower data.num_frames / data.frame_step or set "
                                        f"data.short=pad")
        padded = num_frames - len(sampled)
        sampled.extend([sampled[-1]] * padded)
    start = (len(sampled) - num_frames) // 2
    clip = np.stack(sampled[start:start + num_frames])          # (T, H, W, 3)
    return torch.from_numpy(clip).permute(0, 3, 1, 2).contiguous(), padded


def write_video(path: str | Path, frames: torch.Tensor | np.ndarray, fps: int = 25,
                codec: str | None = None, bit_rate: int = 4_000_000) -> Path:
    """Encode ``frames`` (T, H, W, 3) uint8 RGB into ``path`` (``.avi``: MPEG-4 part 2 as the
    UCF-101 files are; ``.mp4``: H.264) at ``bit_rate`` bits per second."""
    av = _av()
    array = frames.cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"write_video needs (T, H, W, 3) uint8 frames, got {array.shape} "
                         f"{array.dtype}")
    path = Path(path)
    codec = codec or ("libx264" if path.suffix == ".mp4" else "mpeg4")
    height, width = array.shape[1:3]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = bit_rate
        for image in array:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
