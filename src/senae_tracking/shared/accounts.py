"""Portal user accounts (the Ecuapass user of an OCE): the only code that touches ``portal_users``.

Passwords are stored as Argon2id hashes; a hash made with older parameters is upgraded at the next
successful login.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from senae_tracking.shared.identifiers import check_ruc
from senae_tracking.shared.models import PortalUser

_USERNAME = re.compile(r"^[A-Za-z0-9._@-]{3,64}$")
_HASHER = PasswordHasher()
#: Verifying against this keeps the time of an unknown user's login like a known one's.
_DUMMY_HASH = _HASHER.hash("senae-tracking-dummy-password")


@dataclass(frozen=True)
class Account:
    """A portal user without the password hash."""

    username: str
    ruc: str
    name: str
    email: str | None
    lang: str


class AccountError(ValueError):
    """Input that breaks a rule; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def _password_problem(password: str) -> str | None:
    if len(password) < 8:
        return "debe tener al menos 8 caracteres / must have at least 8 characters"
    return None


def _account(user: PortalUser) -> Account:
    return Account(user.username, user.ruc, user.name, user.email, user.lang)


class Accounts:
    """Create and authenticate portal users over one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self._session = sessionmaker(engine, expire_on_commit=False)

    def create(self, *, username: str, password: str, ruc: str, name: str = "",
               email: str | None = None, lang: str = "es") -> Account:
        """Add a user; AccountError names the field that breaks a rule or is taken."""
        checks = [
            ("username", None if _USERNAME.match(username) else
             "debe tener 3-64 letras, dígitos o . _ @ - / must be 3-64 letters, digits or . _ @ -"),
            ("password", _password_problem(password)),
            ("ruc", check_ruc(ruc)),
            ("lang", None if lang in ("es", "en") else "debe ser es o en / must be es or en"),
        ]
        for field, problem in checks:
            if problem:
                raise AccountError(field, problem)
        user = PortalUser(username=username, password_hash=_HASHER.hash(password), ruc=ruc, name=name,
                          email=email, lang=lang, created_at=datetime.now(UTC))
        try:
            with self._session.begin() as session:
                session.add(user)
        except IntegrityError:
            raise AccountError("username", "ya está en uso / is already taken") from None
        return _account(user)

    def set_password(self, username: str, password: str) -> Account:
        """Replace a user's password (an operator's reset); AccountError names what is wrong."""
        if problem := _password_problem(password):
            raise AccountError("password", problem)
        with self._session.begin() as session:
            user = session.scalars(select(PortalUser).where(PortalUser.username == username)).first()
            if user is None:
                raise AccountError("username", "no existe / does not exist")
            user.password_hash = _HASHER.hash(password)
            return _account(user)

    def get(self, username: str) -> Account | None:
        """The user called ``username``, if any."""
        with self._session() as session:
            user = session.scalars(select(PortalUser).where(PortalUser.username == username)).first()
            return _account(user) if user else None

    def authenticate(self, username: str, password: str) -> Account | None:
        """The user if ``password`` is right, else None (same work either way)."""
        with self._session.begin() as session:
            user = session.scalars(select(PortalUser).where(PortalUser.username == username)).first()
            try:
                _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
            except (VerificationError, InvalidHashError):
                return None
            if user is None:
                return None
            if _HASHER.check_needs_rehash(user.password_hash):
                user.password_hash = _HASHER.hash(password)
            return _account(user)
