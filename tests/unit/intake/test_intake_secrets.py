"""Follow-up secrets, phone hashes, sealed denouncer identities, applicant checks."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from intake.api.models import ApplicantIn
from intake.domain.applicant import normalise_phone, normalise_tax_code
from intake.domain.follow_up import SECRET_LENGTH, FollowUpKeys, normalise_secret, secret_hash
from intake.domain.identity import (
    IdentitySeal,
    SealedIdentity,
    UnreadableIdentity,
    new_pseudonym,
)
from intake.domain.receipt import ALPHABET

KEYS = FollowUpKeys.from_secret("a-server-secret-of-enough-length", derived=True)


class TestFollowUpSecret:
    def test_same_dossier_same_secret_other_dossier_other_secret(self) -> None:
        first = KEYS.secret_for("dossier-1")
        assert KEYS.secret_for("dossier-1") == first
        assert KEYS.secret_for("dossier-2") != first

    def test_another_key_gives_another_secret(self) -> None:
        other = FollowUpKeys.from_secret("another-server-secret-of-length", derived=True)
        assert other.secret_for("dossier-1") != KEYS.secret_for("dossier-1")

    def test_secret_is_readable_groups_of_the_receipt_alphabet(self) -> None:
        secret = KEYS.secret_for("dossier-1")
        groups = secret.split("-")
        assert [len(g) for g in groups] == [5] * (SECRET_LENGTH // 5)
        assert set("".join(groups)) <= set(ALPHABET)

    def test_typing_variants_hash_alike(self) -> None:
        secret = KEYS.secret_for("dossier-1")
        typed = secret.replace("-", " ").lower().replace("0", "o").replace("1", "l")
        assert normalise_secret(typed) == secret.replace("-", "")
        assert secret_hash(typed) == secret_hash(secret)

    def test_wrong_secret_does_not_match(self) -> None:
        stored = secret_hash(KEYS.secret_for("dossier-1"))
        assert FollowUpKeys.matches(stored, secret_hash(KEYS.secret_for("dossier-1")))
        assert not FollowUpKeys.matches(stored, secret_hash(KEYS.secret_for("dossier-2")))

    def test_missing_stored_hash_never_matches(self) -> None:
        assert not FollowUpKeys.matches(None, "0" * 64)
        assert not FollowUpKeys.matches(None, secret_hash("anything"))

    def test_phone_hash_is_per_dossier_and_keyed(self) -> None:
        phone = "+84912345678"
        assert KEYS.phone_hash("d1", phone) == KEYS.phone_hash("d1", phone)
        assert KEYS.phone_hash("d1", phone) != KEYS.phone_hash("d2", phone)
        assert KEYS.phone_hash("d1", phone) != KEYS.phone_hash("d1", "+84912345679")
        other = FollowUpKeys.from_secret("x" * 32, derived=False)
        assert other.phone_hash("d1", phone) != KEYS.phone_hash("d1", phone)

    def test_short_key_is_refused(self) -> None:
        with pytest.raises(ValueError, match="16 bytes"):
            FollowUpKeys(b"short")


class TestIdentitySeal:
    identity = SealedIdentity(
        name="Trần Thị Bích Ngọc",
        id_number="001199012345",
        address="12 Lê Lợi, Huế",
        phone="+84912345678",
        email="ngoc@example.vn",
    )

    def test_round_trip(self) -> None:
        seal = IdentitySeal(Fernet.generate_key().decode())
        assert seal.open(seal.seal(self.identity)) == self.identity

    def test_ciphertext_reveals_no_field(self) -> None:
        token = IdentitySeal(Fernet.generate_key().decode()).seal(self.identity)
        for value in ("Ngọc", "Ngoc", "001199012345", "912345678", "Lê Lợi", "example.vn"):
            assert value not in token

    def test_other_key_cannot_open(self) -> None:
        token = IdentitySeal(Fernet.generate_key().decode()).seal(self.identity)
        with pytest.raises(UnreadableIdentity):
            IdentitySeal(Fernet.generate_key().decode()).open(token)

    def test_malformed_key_is_refused_at_once(self) -> None:
        with pytest.raises(ValueError, match="Fernet key"):
            IdentitySeal("not-a-fernet-key")

    def test_pseudonyms_are_fresh(self) -> None:
        names = {new_pseudonym() for _ in range(200)}
        assert len(names) == 200
        assert all(name.startswith("den-") and len(name) == 24 for name in names)


class TestApplicant:
    @pytest.mark.parametrize(
        "typed", ["0912345678", "0912 345 678", "+84 912 345 678", "84912345678"]
    )
    def test_mobile_spellings_normalise_alike(self, typed: str) -> None:
        assert normalise_phone(typed) == "+84912345678"

    def test_landline(self) -> None:
        assert normalise_phone("024 3825 1234") == "+842438251234"

    @pytest.mark.parametrize("typed", ["0123", "+1 202 555 0100", "phone", "0212345678"])
    def test_not_vietnamese_numbers(self, typed: str) -> None:
        with pytest.raises(ValueError, match="phone number"):
            normalise_phone(typed)

    def test_tax_codes(self) -> None:
        assert normalise_tax_code("0101234567") == "0101234567"
        assert normalise_tax_code("0101234567-001") == "0101234567001"
        assert normalise_tax_code("0101234567001") == "0101234567001"
        for bad in ("010123456", "01012345670", "0101234567-01", "ABCDEFGHIJ"):
            with pytest.raises(ValueError, match="tax code"):
                normalise_tax_code(bad)

    def errors(self, **fields: object) -> list[tuple[str, ...]]:
        base: dict[str, object] = {
            "type": "person",
            "name": "Nguyễn Văn An",
            "id_number": "001099012345",
            "email": "an@example.vn",
        }
        try:
            ApplicantIn.model_validate(base | fields)
        except ValidationError as exc:
            return [tuple(str(p) for p in e["loc"]) for e in exc.errors()]
        return []

    def test_valid_person(self) -> None:
        assert self.errors() == []

    def test_person_needs_a_12_digit_citizen_id(self) -> None:
        assert self.errors(id_number="0010990123") == [("id_number",)]
        assert self.errors(id_number="00109901234X") == [("id_number",)]

    def test_organisation_needs_a_tax_code(self) -> None:
        assert self.errors(type="organisation", id_number="0101234567") == []
        assert self.errors(type="organisation", id_number="001099012345") == [("id_number",)]

    def test_phone_and_email_are_checked(self) -> None:
        assert self.errors(phone="12345") == [("phone",)]
        assert self.errors(email="not-an-email") == [("email",)]

    def test_someone_must_be_reachable(self) -> None:
        assert self.errors(email=None) == [()]
        assert self.errors(email=None, phone="0912345678") == []

    def test_unknown_fields_and_control_characters_are_refused(self) -> None:
        assert self.errors(nickname="An") == [("nickname",)]
        assert self.errors(name="An\x00") == [("name",)]
