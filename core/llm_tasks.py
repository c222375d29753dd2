"""Text tasks the controller LLM does itself when no expert is installed (as HuggingGPT does)."""

from __future__ import annotations

from common.cancel import CancelToken
from core.llm.controller import Controller

_INSTRUCTIONS = {
    "summarization": "Summarize the following text in one or two sentences.\n\n{text}",
    "translation": "Translate the following text into {language}. Reply with the translation only.\n\n{text}",
    "text2text-generation": "{text}",
    "text-generation": "{text}",
    "conversational": "{text}",
    "question-answering": "Answer the question from the text. Reply with the answer only.\n\n"
                          "Text: {context}\nQuestion: {question}",
}


def run_with_controller(controller: Controller, task: str, inputs: dict[str, str],
                        cancel: CancelToken, max_tokens: int = 256) -> dict:
    instruction = _INSTRUCTIONS.get(task)
    if instruction is None:
        raise ValueError(f"the controller cannot do {task} by itself")
    values = {"language": "English", **inputs}
    messages = [{"role": "user", "content": instruction.format(**values)}]
    result = controller.chat(messages, max_tokens=max_tokens, cancel=cancel)
    return {"text": result.text.strip(), "device": "controller"}
