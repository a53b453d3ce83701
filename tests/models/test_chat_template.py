import pytest

from impetus.models.chat_template import CHATML, ChatTemplate, ChatTemplateError


def test_chatml_fallback_renders():
    t = ChatTemplate(None)
    out = t.render([{"role": "user", "content": "hi"}])
    assert out == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert t.source == CHATML


def test_template_from_the_bundled_gguf():
    from impetus.engines.llama_ctypes import LlamaModel
    from tests.conftest import MODEL_PATH

    model = LlamaModel(MODEL_PATH)
    try:
        t = ChatTemplate(model.metadata["tokenizer.chat_template"])
    finally:
        model.close()
    out = t.render([{"role": "user", "content": "hello"}])
    assert out.startswith("<|im_start|>system\n")  # SmolLM2 adds its default system prompt
    assert out.endswith("<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.parametrize(
    "evil",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ messages.__class__.__init__.__globals__ }}",
        "{% set x = messages.append(1) %}{{ x }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    ],
)
def test_sandbox_blocks_escapes_and_mutation(evil):
    with pytest.raises(ChatTemplateError):
        ChatTemplate(evil).render([{"role": "user", "content": "x"}])


def test_raise_exception_surfaces_as_template_error():
    t = ChatTemplate("{{ raise_exception('roles must alternate') }}")
    with pytest.raises(ChatTemplateError, match="roles must alternate"):
        t.render([])


def test_tojson_and_strftime_helpers():
    t = ChatTemplate("{{ messages | tojson }} {{ strftime_now('%Y') | length }}")
    assert t.render([{"role": "user", "content": "é"}]).startswith(
        '[{"role": "user", "content": "é"}] 4'
    )
