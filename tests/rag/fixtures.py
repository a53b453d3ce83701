"""Sentences for the parity tests: plain, punctuation, numbers, code, accents, CJK, other
scripts, emoji, odd whitespace, and a long text past the 256-token limit."""

LONG_TEXT = " ".join(
    f"Paragraph {i}: retrieval-augmented generation splits documents into chunks, embeds each "
    "chunk, and stores the vectors so that a question can find the passages nearest to it."
    for i in range(20)
)

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "A man is playing a guitar on a stage.",
    "hello",
    "I can't believe it's already 2024 -- time flies!",
    "def add(a, b):\n    return a + b  # returns the sum",
    "Price: $1,299.99 (incl. 20% VAT); ships in 3-5 days.",
    "Café naïve résumé: über-coördinated façade.",
    "東京は日本の首都です。",
    "北京是中国的首都。",
    "Москва — столица России.",
    "Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "안녕하세요, 만나서 반갑습니다.",
    "مرحبا بالعالم",
    "I love pizza 🍕 and sushi 🍣!!!",
    "   leading and trailing   spaces\tand\ttabs\n\nand newlines   ",
    "UPPERCASE and MiXeD CaSe WoRdS",
    "e-mail: someone@example.com, url: https://example.org/a?b=c&d=e",
    LONG_TEXT,
]
