"""Drives Easel's `POST /v1/images/edits` with the official `openai` SDK's `images.edit`.

Usage: openai_edits.py BASE_URL API_KEY INPUT_PNG. Prints one JSON object with what it saw;
the Rust test asserts on it. Any unexpected exception fails the run (non-zero exit).
"""

import base64
import json
import struct
import sys
import urllib.request

import openai


def png_size(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def refusal(e: openai.APIStatusError):
    return {"status": e.status_code, "code": e.code, "param": e.param}


def main():
    base_url, key, input_png = sys.argv[1], sys.argv[2], sys.argv[3]
    client = openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0)
    seen = {"sdk_version": openai.__version__}

    with open(input_png, "rb") as image:
        b64 = client.images.edit(
            model="sandbox-image", image=image, prompt="the same lighthouse at dusk", n=2,
            size="256x256", response_format="b64_json", user="editor-1",
        )
    images = [base64.b64decode(d.b64_json) for d in b64.data]
    seen["b64_sizes"] = [png_size(i) for i in images]
    seen["b64_distinct"] = len(set(images))
    seen["created"] = b64.created

    # The default answer is a URL; `quality` is accepted and ignored, as on generations.
    with open(input_png, "rb") as image:
        by_url = client.images.edit(
            model="sandbox-image", image=image, prompt="a lighthouse", size="512x512", quality="high",
        )
    seen["url_count"] = len(by_url.data)
    with urllib.request.urlopen(by_url.data[0].url) as res:
        seen["url_content_type"] = res.headers["Content-Type"]
        seen["url_size"] = png_size(res.read())

    refusals = {
        "mask": dict(mask=("mask.png", open(input_png, "rb").read(), "image/png")),
        "two_images": dict(image=[open(input_png, "rb"), open(input_png, "rb")]),
        "not_an_image": dict(image=("notes.txt", b"just some words", "text/plain")),
        "bad_size": dict(size="300x300"),
        "background": dict(background="transparent"),
    }
    for name, kwargs in refusals.items():
        args = dict(model="sandbox-image", image=open(input_png, "rb"), prompt="x")
        args.update(kwargs)
        try:
            client.images.edit(**args)
            seen[name] = "accepted"
        except openai.BadRequestError as e:
            seen[name] = refusal(e)

    try:
        client.images.edit(model="no-such-model", image=open(input_png, "rb"), prompt="x")
        seen["bad_model"] = "accepted"
    except openai.NotFoundError as e:
        seen["bad_model"] = refusal(e)

    try:
        stranger = openai.OpenAI(base_url=base_url + "/v1", api_key="vs_test_nope", max_retries=0)
        stranger.images.edit(image=open(input_png, "rb"), prompt="x")
        seen["bad_key"] = "accepted"
    except openai.AuthenticationError as e:
        seen["bad_key"] = {"status": e.status_code, "code": e.code}

    print(json.dumps(seen))


if __name__ == "__main__":
    main()
