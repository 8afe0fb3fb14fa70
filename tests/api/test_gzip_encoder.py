"""api.render.gzip_encoder: the compressor of the long bodies (hourly JSON pages at
GZIP_PAGE_LEVEL, spooled downloads at GZIP_ENCODER_LEVEL), zlib-ng's, whose gzip streams any
client's zlib must decode."""

from __future__ import annotations

import gzip
import zlib

import pytest
from starlette.requests import Request

from api.render import GZIP_ENCODER_LEVEL, GZIP_PAGE_LEVEL, gzip_encoder

BODY = "".join(
    f'{{"start":"2025-01-01T{h % 24:02d}:00:00Z","mean":"{30 + h % 17}.{h % 100:02d}",'
    f'"name_zh":"二氧化硫","exceeds":{"true" if h % 7 == 0 else "false"}}},'
    for h in range(5000)
).encode()


def _request(accept_encoding: str | None) -> Request:
    headers = [] if accept_encoding is None else [(b"accept-encoding", accept_encoding.encode())]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


@pytest.mark.parametrize("level", [GZIP_ENCODER_LEVEL, GZIP_PAGE_LEVEL])
@pytest.mark.parametrize("accepted", ["gzip", "gzip, deflate", "br;q=1.0, gzip;q=0.8, *;q=0.1"])
def test_a_client_that_accepts_gzip_gets_a_stream_the_standard_library_decodes(
    accepted: str, level: int
) -> None:
    headers = {"Vary": "Accept"}
    compressor = gzip_encoder(_request(accepted), headers, level)
    assert compressor is not None
    assert headers == {"Vary": "Accept, Accept-Encoding", "Content-Encoding": "gzip"}
    # written in pieces, as a download is spooled
    raw = b"".join(compressor.compress(BODY[i : i + 65536]) for i in range(0, len(BODY), 65536))
    raw += compressor.flush()
    assert raw[:3] == b"\x1f\x8b\x08"  # a gzip member, deflate
    assert gzip.decompress(raw) == BODY
    assert zlib.decompress(raw, 16 + zlib.MAX_WBITS) == BODY
    assert len(raw) < len(BODY) // 5


@pytest.mark.parametrize("accepted", [None, "", "identity", "br", "deflate"])
def test_a_client_that_does_not_accept_gzip_gets_no_compressor_and_no_headers(
    accepted: str | None,
) -> None:
    headers = {"Vary": "Accept"}
    assert gzip_encoder(_request(accepted), headers) is None
    assert headers == {"Vary": "Accept"}


def test_vary_is_set_when_the_response_had_none() -> None:
    headers: dict[str, str] = {}
    assert gzip_encoder(_request("gzip"), headers) is not None
    assert headers == {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
