"""``ask``: retrieve evidence, ask a vision-language model, keep only well-cited answers."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import OmnidexError
from . import citations, prompt
from .backends import ChatBackend, LLMConfig, make_backend
from .evidence import Evidence, durations, gather


class CitationError(OmnidexError):
    """The model's answer cites times that are not in the evidence (or outside the video)."""

    def __init__(self, message: str, answer: str, problems: list[str]):
        super().__init__(message)
        self.answer, self.problems = answer, problems


@dataclass
class Answer:
    """A grounded answer: the text, its checked citations, and the evidence shown to the model."""

    question: str
    text: str
    citations: list[citations.Citation]
    evidence: list[Evidence]
    model: str = ""
    attempts: int = 1
    rejected: list[str] = field(default_factory=list)  # problems of a first answer that was retried

    def to_dict(self) -> dict:
        """JSON-ready (images left out)."""
        return {"question": self.question, "answer": self.text, "citations": [c.to_dict() for c in self.citations],
                "evidence": [e.to_dict() for e in self.evidence], "model": self.model, "attempts": self.attempts,
                "rejected": self.rejected}


def ask(index, question: str, file: str | None = None, llm: LLMConfig | None = None,
        backend: ChatBackend | None = None, top_k: int = 8, max_frames: int = 6, retry: bool = True) -> Answer:
    """Answer ``question`` from the index, citing timestamps that exist in the evidence.

    Args:
        index: an :class:`omnidex.Index`.
        question: what to ask.
        file: only look inside this file.
        llm: backend settings (default: environment, see :meth:`LLMConfig.from_env`).
        backend: a ready backend (overrides ``llm``).
        top_k: moments retrieved.
        max_frames: frames attached at most.
        retry: ask the model once more to fix invalid citations.
    Returns:
        The answer with its citations matched to evidence.
    Raises:
        CitationError: the answer (after the retry) cites times outside the video or the evidence.
        LLMError: the backend could not answer.
    """
    if not question or not question.strip():
        raise OmnidexError("ask needs a question")
    llm = llm or LLMConfig.from_env()
    backend = backend or make_backend(llm)
    evidence = gather(index, question, in_path=file, top_k=top_k, max_frames=max_frames)
    lengths = durations(index.store, {e.path for e in evidence})
    msgs = prompt.messages(question, evidence)
    rejected: list[str] = []
    for attempt in (1, 2):
        text = backend.chat(msgs)
        cites = citations.find(text)
        problems = citations.check(cites, evidence, lengths)
        if not problems:
            return Answer(question, text, cites, evidence, llm.model or backend.name, attempt, rejected)
        if attempt == 2 or not retry:
            raise CitationError("the model's answer was rejected: " + "; ".join(problems), text, problems)
        rejected = problems
        msgs = msgs + [{"role": "assistant", "content": [text]}, prompt.fix_request(problems)]
    raise AssertionError("unreachable")  # pragma: no cover
