"""Audio file I/O (soundfile) and resampling (soxr) in the engine's buffer layout."""

from ._audiofile import AudioArray, AudioInfo, audio_info, read_audio, resample, write_audio

__all__ = ["AudioArray", "AudioInfo", "audio_info", "read_audio", "resample", "write_audio"]
