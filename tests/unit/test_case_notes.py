"""The pure parts of case notes and attachments: what a note may hold, who it mentions,
what a file really is."""

from __future__ import annotations

from casework.attachments import clean_filename, sniff
from casework.notes import clean_body, mentioned_names
from core.settings import Settings

SETTINGS = Settings(attachment_max_bytes=1024, attachment_types="pdf, txt", _env_file=None)  # type: ignore[call-arg]


def test_mentions_are_usernames_after_an_at_sign_not_email_addresses() -> None:
    body = "@aml.ivan and (@mlro.max), cc jane@example.com; thanks @Aml.Ivan. @kyc-kim!"
    assert mentioned_names(body) == ["aml.ivan", "mlro.max", "kyc-kim"]


def test_a_note_keeps_line_breaks_and_refuses_control_characters_and_excess() -> None:
    assert clean_body("  first line\r\nsecond\tline  ") == ("first line\nsecond\tline", None)
    assert clean_body("\n \n")[1] == "Write the note."
    assert "U+001B" in (clean_body("colour \x1b[31m red")[1] or "")
    assert "4001" in (clean_body("x" * 4001)[1] or "")


def test_a_file_is_what_its_bytes_say_not_what_its_name_says() -> None:
    assert sniff(SETTINGS, "letter.PDF", b"%PDF-1.7 ...") == ("application/pdf", None)
    assert (
        sniff(SETTINGS, "letter.pdf", b"<html>")[1]
        == "The file is named .pdf but is not a PDF file."
    )
    assert "not accepted" in (sniff(SETTINGS, "photo.png", b"\x89PNG\r\n\x1a\n")[1] or "")
    assert sniff(SETTINGS, "notes.txt", b"a\x00b")[1] == "The file is named .txt but is not text."
    assert "larger than the limit of 1 KB" in (sniff(SETTINGS, "big.txt", b"a" * 1025)[1] or "")


def test_an_uploaded_name_loses_its_path_and_control_characters() -> None:
    assert clean_filename("C:\\Users\\x\\..\\report\x07.pdf") == "report.pdf"
    assert clean_filename("../../etc/passwd") == "passwd"
    assert len(clean_filename("a" * 300 + ".pdf")) == 200 and clean_filename(
        "a" * 300 + ".pdf"
    ).endswith(".pdf")
