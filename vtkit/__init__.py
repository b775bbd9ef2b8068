"""vtkit: align egocentric video with procedural step descriptions (Ego4D GoalStep)."""

__version__ = "0.1.0"

__all__ = ["align_video", "AlignSettings", "Config", "VtkitError", "__version__"]


def __getattr__(name):
    # Lazy so that `import vtkit` stays light (no torch/transformers at import).
    if name == "align_video":
        from vtkit.inference import align_video

        return align_video
    if name == "AlignSettings":
        from vtkit.align import AlignSettings

        return AlignSettings
    if name == "Config":
        from vtkit.config import Config

        return Config
    if name == "VtkitError":
        from vtkit.errors import VtkitError

        return VtkitError
    raise AttributeError(name)


def __dir__():
    return sorted(list(globals()) + __all__)
