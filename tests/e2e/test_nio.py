"""matrix-nio as a real client: AsyncClient.upload and .download against
the stack (nio uses /_matrix/media/r0 for both)."""
import asyncio
import io
import os

import nio
from nio.crypto import decrypt_attachment


def run_client(stack, body):
    """Runs body(client) with a logged-in AsyncClient, closing it after."""
    async def main():
        client = nio.AsyncClient(stack.base, "@admin:" + stack.server_name)
        client.access_token = stack.token
        client.user_id = "@admin:" + stack.server_name
        try:
            return await body(client)
        finally:
            await client.close()
    return asyncio.run(main())


def upload_then_download(stack, data, content_type, filename, filesize,
                         provider=None):
    async def body(client):
        up, keys = await client.upload(
            provider if provider is not None else io.BytesIO(data),
            content_type=content_type, filename=filename, filesize=filesize)
        assert isinstance(up, nio.UploadResponse), up
        assert keys is None
        assert up.content_uri.startswith("mxc://%s/" % stack.server_name)
        down = await client.download(mxc=up.content_uri)
        return up, down
    return run_client(stack, body)


def test_nio_upload_download_round_trip(stack):
    data = os.urandom(100000)
    up, down = upload_then_download(stack, data, "image/png", "photo.png",
                                    len(data))
    assert isinstance(down, nio.DownloadResponse), down
    assert down.body == data
    assert down.content_type == "image/png"
    assert down.filename == "photo.png"


def test_nio_non_ascii_filename(stack):
    data = b"hello from nio\n"
    name = "h\u00e9llo w\u00f6rld \U0001F414.txt"
    up, down = upload_then_download(stack, data, "text/plain", name,
                                    len(data))
    assert isinstance(down, nio.DownloadResponse), down
    assert down.body == data
    # aiohttp strips parameters from content_type; the base type must match.
    assert down.content_type == "text/plain"
    assert down.filename == name


def test_nio_upload_from_file_path(stack, tmp_path):
    data = os.urandom(300000)
    p = tmp_path / "clip.webm"
    p.write_bytes(data)
    with open(p, "rb") as f:
        up, down = upload_then_download(stack, data, "video/webm",
                                        "clip.webm", len(data), provider=f)
    assert isinstance(down, nio.DownloadResponse), down
    assert down.body == data
    assert down.content_type == "video/webm"
    assert down.filename == "clip.webm"


def test_nio_upload_without_filesize(stack):
    # nio's default: no filesize, so aiohttp streams the body chunked.
    data = os.urandom(5000)
    up, down = upload_then_download(stack, data, "application/pdf",
                                    "doc.pdf", None)
    assert isinstance(down, nio.DownloadResponse), down
    assert down.body == data
    assert down.content_type == "application/pdf"
    assert down.filename == "doc.pdf"


def test_nio_encrypted_upload(stack):
    data = os.urandom(20000)

    async def body(client):
        up, keys = await client.upload(
            io.BytesIO(data), content_type="application/octet-stream",
            filename="secret.bin", encrypt=True, filesize=len(data))
        assert isinstance(up, nio.UploadResponse), up
        down = await client.download(mxc=up.content_uri)
        return up, keys, down

    up, keys, down = run_client(stack, body)
    assert isinstance(down, nio.DownloadResponse), down
    assert down.body != data  # stored encrypted
    assert down.content_type == "application/octet-stream"
    plain = decrypt_attachment(down.body, keys["key"]["k"],
                               keys["hashes"]["sha256"], keys["iv"])
    assert plain == data


def test_nio_download_unknown_media(stack):
    async def body(client):
        return await client.download(
            mxc="mxc://%s/%s" % (stack.server_name, "Z" * 24))

    down = run_client(stack, body)
    assert isinstance(down, nio.DownloadError), down
    assert down.status_code == "M_NOT_FOUND"


def test_nio_upload_bad_token(stack):
    async def body(client):
        client.access_token = "not-a-token"
        up, _ = await client.upload(io.BytesIO(b"x"), filesize=1,
                                    content_type="text/plain")
        return up

    up = run_client(stack, body)
    assert isinstance(up, nio.UploadError), up
    assert up.status_code == "M_UNKNOWN_TOKEN"


def test_nio_thumbnail_of_uploaded_png(stack):
    """AsyncClient.thumbnail (r0 route) on a PNG nio uploaded."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (20, 120, 220)).save(buf, "PNG")
    data = buf.getvalue()

    async def body(client):
        up, _ = await client.upload(io.BytesIO(data), content_type="image/png",
                                    filename="blue.png", filesize=len(data))
        assert isinstance(up, nio.UploadResponse), up
        server, media_id = up.content_uri[len("mxc://"):].split("/", 1)
        scaled = await client.thumbnail(server, media_id, 320, 240,
                                        nio.ResizingMethod.scale)
        cropped = await client.thumbnail(server, media_id, 96, 96,
                                         nio.ResizingMethod.crop)
        return scaled, cropped

    scaled, cropped = run_client(stack, body)
    for thumb, size in ((scaled, (320, 240)), (cropped, (96, 96))):
        assert isinstance(thumb, nio.ThumbnailResponse), thumb
        assert thumb.content_type in ("image/jpeg", "image/png")
        im = Image.open(io.BytesIO(thumb.body))
        assert im.size == size
        assert im.format == thumb.content_type.split("/")[1].upper()
