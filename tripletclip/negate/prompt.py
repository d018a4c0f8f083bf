"""The TripletCLIP negation prompt (Patel et al. 2024, §3.2), verbatim with its two in-context examples, and the chat
prompt built from it. vLLM and transformers both go through `chat_prompt`, so they send the model the same text."""

from __future__ import annotations

PAPER_PROMPT = (
    "You are given the description of an image. You should provide a mostly similar description, changing the "
    "original one slightly but introducing enough significant differences such that the two descriptions could not "
    "possibly be for the same image. Keep the description length the same. Finally, only a few things (such as "
    "counting, objects, attributes, and relationships) can be modified to change the image structure significantly. "
    "Provide just the updated description. Examples: Input: A dog to the left of the cat. Output: A dog to the right "
    "of the cat. Input: A person wearing a red helmet drives a motorbike on a dirt road. Output: A person in a blue "
    "helmet rides a motorbike on a gravel path. Now, do the same for the following captions: Input: {} Output:"
)


def check_template(template: str) -> str:
    """A prompt template must hold exactly one `{}`, where the caption goes."""
    if template.count("{}") != 1:
        raise ValueError(f"the negation prompt must contain exactly one '{{}}' for the caption; got {template!r}")
    return template


def chat_prompt(tokenizer, caption: str, template: str = PAPER_PROMPT) -> str:
    """The prompt text for one caption: the template filled in as a single user turn of the model's chat template
    (Mistral's has no system role), or the bare text for a model without one."""
    text = template.replace("{}", caption.strip(), 1)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                             add_generation_prompt=True)
    return text
