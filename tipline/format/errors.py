"""One root error, and one subclass per way an input can be bad.

Callers catch the class that matches the outcome they handle (the offline
tool maps them to exit codes); messages are written for people.
"""


class TiplineError(Exception):
    """Root of every error the crypto core raises on bad input."""


class EnvelopeError(TiplineError):
    """The input is not a readable envelope."""


class NotAnEnvelope(EnvelopeError):
    """The magic bytes are missing: this is some other kind of file."""


class UnsupportedVersion(EnvelopeError):
    """A Tipline envelope of a version this code does not read."""


class MalformedHeader(EnvelopeError):
    """The header is cut short or its fields are out of range."""


class TooManyRecipients(MalformedHeader):
    """The header names more recipient stanzas than the format allows."""


class BadLength(EnvelopeError):
    """The envelope's length cannot be that of a well-formed envelope.

    Checkable without any key: the server uses it to refuse malformed
    browser uploads before storing them.
    """


class NoMatchingKey(EnvelopeError):
    """No stanza was sealed to any key the reader holds."""


class DecryptionFailed(EnvelopeError):
    """Could not authenticate: damaged, tampered with or truncated.

    Deliberately opaque: it never says which check failed.
    """


class MalformedPayload(EnvelopeError):
    """The payload authenticated but its layout breaks the spec."""


class KeyFileError(TiplineError):
    """A key file is malformed, has a bad checksum or absurd parameters."""


class UnsealableKey(KeyFileError):
    """A public key of small order: its shared secret would be all zero, so libsodium refuses to seal."""


class WrongPassphrase(KeyFileError):
    """The passphrase does not open the secret key file (or it is damaged)."""


class CodenameError(TiplineError):
    """A codename, or an input to its derivation, is unusable."""


class BadCodename(CodenameError):
    """The text is not seven words of the codename list: nothing is derived from it."""


class BadInstallSalt(CodenameError):
    """The installation salt is not 16 bytes (a configuration fault, not the source's)."""


class BadVerifier(CodenameError):
    """A login verifier is not 32 bytes: what a client sent is not one."""
