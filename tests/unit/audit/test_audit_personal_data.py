"""Personal data in audit payloads: encrypted before sealing, revealed only with clearance."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from audit.domain.canonical import canonical_json
from audit.domain.personal_data import (
    ENCRYPTED_PREFIX,
    REDACTED,
    PersonalDataCipher,
    is_personal_key,
)

CCCD = "079204001234"
APPLICANT = {
    "type": "person",
    "name": "Trần Thị Bình",
    "id_number": CCCD,
    "email": "binh.tran@example.vn",
    "phone": "0987654321",
    "address": "5 Nguyễn Huệ, Quận 1",
    "pseudonym": None,
    "language": "vi",
}


@pytest.fixture
def cipher() -> PersonalDataCipher:
    return PersonalDataCipher([Fernet.generate_key()])


@pytest.mark.parametrize(
    "key",
    [
        "name",
        "id_number",
        "email",
        "phone",
        "address",
        "display_name",
        "contact-email",
        "so_dien_thoai",
        "dia_chi",
        "so_cccd",
        "Owner_Phone",
        "content",
        "portal_account",
    ],
)
def test_personal_keys(key: str) -> None:
    assert is_personal_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "procedure_name_vi",
        "agency_name_en",
        "receipt_code",
        "new_status",
        "pseudonym",
        "email_verified",
        "sms_opt_out",
        "language",
        "dossier_id",
        None,
        "",
    ],
)
def test_keys_that_are_not_personal(key: str | None) -> None:
    assert not is_personal_key(key)


def test_personal_values_are_sealed_as_ciphertext(cipher: PersonalDataCipher) -> None:
    sealed = cipher.protect({"applicant": APPLICANT, "receipt_code": "HS-0001"})
    applicant = sealed["applicant"]
    for field in ("name", "id_number", "email", "phone", "address"):
        assert applicant[field].startswith(ENCRYPTED_PREFIX), field
    assert applicant["pseudonym"] is None
    assert applicant["language"] == "vi"
    assert sealed["receipt_code"] == "HS-0001"
    text = canonical_json(sealed).decode()
    for secret in (CCCD, "Trần Thị Bình", "binh.tran@example.vn", "0987654321", "Nguyễn Huệ"):
        assert secret not in text


def test_with_clearance_the_plaintext_comes_back(cipher: PersonalDataCipher) -> None:
    data = {"applicant": APPLICANT, "form": {"so_thua": 12, "ghi_chu": f"CCCD {CCCD}"}}
    assert cipher.reveal(cipher.protect(data), cleared=True) == data


def test_without_clearance_values_are_masked(cipher: PersonalDataCipher) -> None:
    data = {"applicant": APPLICANT, "form": {"ghi_chu": f"CCCD {CCCD}, gọi 0912345678"}}
    shown = cipher.reveal(cipher.protect(data), cleared=False)
    assert shown["applicant"]["name"] == REDACTED
    assert shown["applicant"]["id_number"] == REDACTED
    assert shown["applicant"]["address"] == REDACTED
    assert shown["applicant"]["email"] == "b***@e***.vn"
    assert shown["applicant"]["phone"] == "098****321"
    assert shown["form"]["ghi_chu"] == "CCCD [id], gọi 091****678"
    assert CCCD not in json.dumps(shown, ensure_ascii=False)


def test_sealing_is_needed_for_nothing_but_personal_data(cipher: PersonalDataCipher) -> None:
    data = {"note": "đã nhận đủ hồ sơ", "version": 3, "ok": True, "tags": ["a", "b"]}
    assert cipher.protect(data) == data


def test_a_string_that_looks_like_ciphertext_is_sealed_too(cipher: PersonalDataCipher) -> None:
    typed = f"{ENCRYPTED_PREFIX}made-up"
    sealed = cipher.protect({"note": typed})
    assert sealed["note"] != typed
    assert cipher.reveal(sealed, cleared=True) == {"note": typed}


def test_changes_are_protected_by_their_field_name(cipher: PersonalDataCipher) -> None:
    change = {"field": "applicant.phone", "old": "0912345678", "new": "0987654321"}
    sealed = cipher.protect_change(change)
    assert sealed["old"].startswith(ENCRYPTED_PREFIX)
    assert cipher.reveal_change(sealed, cleared=True) == change
    assert cipher.reveal_change(sealed, cleared=False)["new"] == "098****321"
    status = {"field": "status", "old": "received", "new": "approved"}
    assert cipher.protect_change(status) == status


def test_keys_the_store_refuses_are_escaped_and_restored(cipher: PersonalDataCipher) -> None:
    data = {"thua_dat.so_to": 3, "$where": "x", "100%": 1, "a%2Eb": 2, "nul\x00": 0}
    sealed = cipher.protect(data)
    assert all("." not in k and not k.startswith("$") and "\x00" not in k for k in sealed)
    assert cipher.reveal(sealed, cleared=True) == data


def test_values_json_cannot_hash_are_made_hashable(cipher: PersonalDataCipher) -> None:
    sealed = cipher.protect({"big": 2**60, "nan": float("nan"), "text": "a\ud800b"})
    assert sealed == {"big": str(2**60), "nan": "nan", "text": "a\ufffdb"}
    canonical_json(sealed)  # does not raise


def test_without_a_key_personal_data_is_masked_for_good() -> None:
    cipher = PersonalDataCipher()
    assert not cipher.encrypts
    sealed = cipher.protect({"applicant": APPLICANT})
    assert sealed["applicant"]["id_number"] == REDACTED
    assert sealed["applicant"]["email"] == "b***@e***.vn"
    assert cipher.reveal(sealed, cleared=True) == sealed


def test_an_old_key_still_decrypts_after_rotation() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = PersonalDataCipher.from_setting(old).protect({"email": "an@example.vn"})
    rotated = PersonalDataCipher.from_setting(f"{new}, {old}")
    assert rotated.reveal(sealed, cleared=True) == {"email": "an@example.vn"}


def test_a_lost_key_shows_nothing(cipher: PersonalDataCipher) -> None:
    sealed = cipher.protect({"id_number": CCCD})
    stranger = PersonalDataCipher([Fernet.generate_key()])
    assert stranger.reveal(sealed, cleared=True) == {"id_number": "[undecryptable]"}
    assert stranger.reveal(sealed, cleared=False) == {"id_number": REDACTED}
