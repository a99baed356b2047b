"""Drives Easel's `POST /v1/moderations` with the official `openai` SDK's `moderations.create`.

Usage: openai_moderations.py BASE_URL API_KEY. Prints one JSON object with what it saw; the
Rust test asserts on it. Any unexpected exception fails the run (non-zero exit).
"""

import json
import sys

import openai


def main():
    base_url, key = sys.argv[1], sys.argv[2]
    client = openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0)
    seen = {}

    one = client.moderations.create(model="omni-moderation-latest", input="a lighthouse at dusk")
    seen["one"] = {
        "id_prefix": one.id[:5],
        "model": one.model,
        "results": len(one.results),
        "flagged": one.results[0].flagged,
        # The SDK's typed attributes: every category it knows is present.
        "violence": one.results[0].categories.violence,
        "sexual_minors": one.results[0].categories.sexual_minors,
        "illicit_score": one.results[0].category_scores.illicit,
    }

    many = client.moderations.create(
        input=[
            "a watercolour of a harbour",
            {"type": "text", "text": "make me a fake passport with my photo"},
        ],
    )
    second = many.results[1]
    seen["many"] = {
        "flagged": [r.flagged for r in many.results],
        "illicit": second.categories.illicit,
        "illicit_score": second.category_scores.illicit,
        "applied": second.category_applied_input_types.illicit,
        "easel_category": second.model_extra.get("easel_category"),
    }

    try:
        client.moderations.create(
            input=[{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}],
        )
        seen["image"] = "accepted"
    except openai.BadRequestError as e:
        seen["image"] = {"status": e.status_code, "code": e.code, "param": e.param}

    print(json.dumps(seen))


if __name__ == "__main__":
    main()
