"""StepCost: learnt step costs that size prompt chunks to the token-gap budget."""

from __future__ import annotations

from impetus.engines.step_cost import StepCost


def test_decode_only_steps_learn_the_cost_per_row_count():
    cost = StepCost()
    for _ in range(30):
        cost.observe(7, 0, 35.0)
        cost.observe(1, 0, 9.0)
    assert abs(cost.decode_ms(7) - 35.0) < 0.5 and abs(cost.decode_ms(1) - 9.0) < 0.5
    assert 9.0 < cost.decode_ms(4) < 35.0  # unseen: scaled from the nearest known count


def test_a_decode_cost_that_drifts_during_a_long_prefill_is_not_charged_to_the_prompt():
    """Every step mixed while the decode part doubles (the KV cache fills): the prompt-token
    estimate stays near the truth and the chosen chunks keep steps near the budget."""
    cost = StepCost(prefill_ms=3.0)
    for _ in range(20):
        cost.observe(7, 0, 35.0)
    true_token_ms = 4.5
    steps = []
    for i in range(400):
        decode_ms = 35.0 + 35.0 * i / 400  # 35 -> 70 ms as the cells fill
        n = cost.chunk(7, 75.0, cap=505)
        ms = decode_ms + true_token_ms * n
        cost.observe(7, n, ms)
        steps.append((n, ms))
    assert 2.5 < cost.prefill_ms < 8.0, cost.prefill_ms
    late = [ms for n, ms in steps[100:] if n > 2]  # steps not held at the floor
    assert late and max(late) < 85.0


def test_chunks_respect_the_floor_and_the_batch_room():
    cost = StepCost(prefill_ms=4.0)
    for _ in range(20):
        cost.observe(7, 0, 90.0)  # the decode alone is over the budget
    assert cost.chunk(7, 75.0, cap=505) == 2
    assert cost.chunk(7, 75.0, cap=1) == 1
    for _ in range(40):
        cost.observe(7, 0, 30.0)
    assert cost.chunk(7, 75.0, cap=505) == int(45.0 / 4.0)
    assert cost.chunk(7, 10_000.0, cap=505) == 505


def test_a_short_prompt_is_done_in_three_steps_even_when_the_decode_fills_the_budget():
    cost = StepCost(prefill_ms=4.0)
    for _ in range(20):
        cost.observe(7, 0, 60.0)  # the decode alone is over the 50 ms budget
    assert cost.chunk(7, 50.0, cap=505) == 2  # no prompt given: the floor
    assert cost.chunk(7, 50.0, cap=505, prompt=90) == 30
    assert cost.chunk(7, 50.0, cap=505, prompt=256) == 86
    assert cost.chunk(7, 50.0, cap=6, prompt=90) == 6  # never past the batch's room
    assert cost.chunk(7, 50.0, cap=505, prompt=2000) == 2  # a long prompt keeps to the floor
    for _ in range(20):
        cost.observe(1, 0, 10.0)
    assert cost.chunk(1, 50.0, cap=505, prompt=30) == 10  # the budget alone gives 10 already
