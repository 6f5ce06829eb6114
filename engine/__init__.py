"""The engine: model loading, the decode loop, sampling. See engine/API.md for the contract."""
from engine.config import EngineConfig
from engine.errors import EngineError, ModelError, PromptTooLong
from engine.sampling import SamplingParams

__all__ = ["LLM", "EngineConfig", "SamplingParams", "EngineError", "ModelError", "PromptTooLong"]


def __getattr__(name):
    # LLM pulls in torch and transformers; import it only when asked for.
    if name == "LLM":
        from engine.llm import LLM

        return LLM
    raise AttributeError(name)
