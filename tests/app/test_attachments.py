"""Reading files to attach: text in, binary and undecodable files refused by name."""

from __future__ import annotations

import codecs

import pytest

from app.attachments import Attachment, AttachmentError, read_attachment


def test_a_text_file_is_read_exactly_with_its_line_breaks_normalised(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes("line one\r\nline two — ünïcode 🙂\n".encode())
    size = len("line one\r\nline two — ünïcode 🙂\n".encode())
    assert read_attachment(path) == Attachment("notes.txt", "line one\nline two — ünïcode 🙂\n", size)


def test_utf16_and_bom_files_are_text(tmp_path):
    (tmp_path / "a.txt").write_bytes(codecs.BOM_UTF8 + b"hello")
    (tmp_path / "b.txt").write_bytes("héllo".encode("utf-16"))
    assert read_attachment(tmp_path / "a.txt").text == "hello"
    assert read_attachment(tmp_path / "b.txt").text == "héllo"


@pytest.mark.parametrize(
    "data, message",
    [(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.bin is not a text file (it contains binary data)"),
     (b"caf\xe9 au lait", "photo.bin is not UTF-8 text (byte 0xe9 at position 3"),
     (b"   \n", "photo.bin is empty")],
)
def test_files_that_are_not_text_are_refused_clearly(tmp_path, data, message):
    path = tmp_path / "photo.bin"
    path.write_bytes(data)
    with pytest.raises(AttachmentError) as e:
        read_attachment(path)
    assert str(e.value).startswith(message)


def test_too_large_missing_and_folder(tmp_path):
    big = tmp_path / "big.log"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(AttachmentError, match="big.log is 2.0 KB; text files up to 1.0 KB can be attached"):
        read_attachment(big, max_bytes=1000)
    with pytest.raises(AttachmentError, match="gone.txt could not be read"):
        read_attachment(tmp_path / "gone.txt")
    with pytest.raises(AttachmentError, match="is a folder"):
        read_attachment(tmp_path)


def test_the_block_names_the_file_and_its_fence_outlasts_the_files_own_fences():
    block = Attachment("a<b>.md", "```py\nx = 1\n```\n````\n").block
    assert block.startswith("[Attached file: a<b>.md]\n`````\n")
    assert block.endswith("\n`````")
    assert "```py\nx = 1\n```" in block
