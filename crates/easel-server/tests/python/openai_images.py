"""Drives Easel's OpenAI-compatible endpoint with the official `openai` SDK.

Usage: openai_images.py BASE_URL API_KEY. Prints one JSON object with what it saw; the
Rust test asserts on it. Any unexpected exception fails the run (non-zero exit).
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


def main():
    base_url, key = sys.argv[1], sys.argv[2]
    client = openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0)
    seen = {"sdk_version": openai.__version__}

    b64 = client.images.generate(
        model="sandbox-image", prompt="a lighthouse at dusk", n=2, size="256x256",
        response_format="b64_json", user="end-user-1",
    )
    images = [base64.b64decode(d.b64_json) for d in b64.data]
    seen["b64_sizes"] = [png_size(i) for i in images]
    seen["b64_distinct"] = len(set(images))
    seen["created"] = b64.created

    by_url = client.images.generate(model="sandbox-image", prompt="a lighthouse", size="512x512")
    with urllib.request.urlopen(by_url.data[0].url) as res:
        seen["url_content_type"] = res.headers["Content-Type"]
        seen["url_size"] = png_size(res.read())

    try:
        client.images.generate(model="sandbox-image", prompt="x", size="300x300")
        seen["bad_size"] = "accepted"
    except openai.BadRequestError as e:
        seen["bad_size"] = {"status": e.status_code, "code": e.code, "param": e.param}

    try:
        client.images.generate(model="no-such-model", prompt="x")
        seen["bad_model"] = "accepted"
    except openai.NotFoundError as e:
        seen["bad_model"] = {"status": e.status_code, "code": e.code}

    try:
        openai.OpenAI(base_url=base_url + "/v1", api_key="vs_test_nope", max_retries=0).images.generate(prompt="x")
        seen["bad_key"] = "accepted"
    except openai.AuthenticationError as e:
        seen["bad_key"] = {"status": e.status_code, "code": e.code}

    print(json.dumps(seen))


if __name__ == "__main__":
    main()
