"""Follow-up secrets, phone hashes, sealed denouncer identities, applicant checks."""

from __future__ import annotations

import hmac
import uuid
from typing import Any, ClassVar

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from intake.api.models import ApplicantIn
from intake.domain import follow_up
from intake.domain.applicant import normalise_phone, normalise_tax_code
from intake.domain.follow_up import (
    SECRET_LENGTH,
    FollowUpKeys,
    normalise_secret,
    second_factor_matches,
    secret_hash,
)
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


Trace = list[tuple[Any, ...]]


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> Trace:
    """Records every hash and comparison the second-factor check does, with the sizes of
    what it hashes and compares (the only inputs their running time depends on)."""
    calls: Trace = []
    compare, hash_secret, hash_phone = hmac.compare_digest, secret_hash, FollowUpKeys.phone_hash

    def counted_compare(a: bytes, b: bytes) -> bool:
        calls.append(("compare", len(a), len(b)))
        return compare(a, b)

    def counted_secret_hash(secret: str) -> str:
        calls.append(("secret_hash", len(secret)))
        return hash_secret(secret)

    def counted_phone_hash(keys: FollowUpKeys, dossier_id: str, phone: str) -> str:
        calls.append(("phone_hash", len(dossier_id), len(phone)))
        return hash_phone(keys, dossier_id, phone)

    monkeypatch.setattr(hmac, "compare_digest", counted_compare)
    monkeypatch.setattr(follow_up, "secret_hash", counted_secret_hash)
    monkeypatch.setattr(FollowUpKeys, "phone_hash", counted_phone_hash)
    return calls


class TestSameWorkWhetherTheCodeExists:
    """A wrong second factor on a real receipt code and any second factor on an invented
    code must cost the same work, or the time of the 404 tells which codes exist."""

    dossier_id = str(uuid.uuid4())
    phone = "+84912345678"
    stored: ClassVar[dict[str, str]] = {
        "_id": dossier_id,
        "secret_hash": secret_hash(KEYS.secret_for(dossier_id)),
        "phone_hash": KEYS.phone_hash(dossier_id, phone),
    }

    def run(self, work: Trace, found: dict[str, Any] | None, **factor: str) -> tuple[bool, Trace]:
        work.clear()
        matched = second_factor_matches(KEYS, found, factor.get("secret"), factor.get("phone_e164"))
        return matched, list(work)

    def test_secret(self, work: Trace) -> None:
        right = KEYS.secret_for(self.dossier_id)
        wrong = KEYS.secret_for(str(uuid.uuid4()))
        assert self.run(work, self.stored, secret=right)[0] is True
        right_work = self.run(work, self.stored, secret=right)[1]
        wrong_code = self.run(work, self.stored, secret=wrong)
        unknown_code = self.run(work, None, secret=wrong)
        assert wrong_code[0] is False
        assert unknown_code[0] is False
        assert wrong_code[1] == unknown_code[1] == right_work
        assert wrong_code[1] == [("secret_hash", len(wrong)), ("compare", 64, 64)]

    def test_phone(self, work: Trace) -> None:
        assert self.run(work, self.stored, phone_e164=self.phone)[0] is True
        right_work = self.run(work, self.stored, phone_e164=self.phone)[1]
        wrong_phone = self.run(work, self.stored, phone_e164="+84912345679")
        unknown_code = self.run(work, None, phone_e164="+84912345679")
        assert wrong_phone[0] is False
        assert unknown_code[0] is False
        assert wrong_phone[1] == unknown_code[1] == right_work
        assert wrong_phone[1] == [("phone_hash", 36, 12), ("compare", 64, 64)]

    def test_a_submission_without_a_phone_is_not_opened_by_one(self, work: Trace) -> None:
        without_phone = {k: v for k, v in self.stored.items() if k != "phone_hash"}
        matched, done = self.run(work, without_phone, phone_e164=self.phone)
        assert matched is False
        assert done == self.run(work, None, phone_e164=self.phone)[1]


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
