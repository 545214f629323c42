"""Exception and warning classes of actcode, and the exit code each maps to."""

from __future__ import annotations

import errno
import pickle

#: errno values that mean "the device is full" (quota and file-size limits included): exit 7.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class ActcodeError(Exception):
    """Root of every error actcode raises on purpose (exit code 1 unless a subclass says)."""

    exit_code = 1


class FormatError(ActcodeError, ValueError):
    """A file is not a valid actcode file of a supported version (exit code 3)."""

    exit_code = 3


class NotHDF5Error(FormatError):
    """A file is not HDF5 at all, or is truncated so that HDF5 cannot open it."""


class ForeignFileError(FormatError):
    """A file of another kind: an HDF5 file that is not a code file, or a data file of wrong magic number."""


class MissingElementError(FormatError):
    """A required group, dataset or attribute is absent."""


class UnknownElementError(FormatError):
    """An element that the spec does not allow is present."""


class VersionTooNewError(FormatError):
    """The file's major format version is newer than this actcode reads."""


class VersionTooOldError(FormatError):
    """The file's major format version is older than any this actcode reads."""


class DtypeError(FormatError):
    """A dataset or attribute has the wrong type."""


class ShapeError(FormatError):
    """A dataset's shape disagrees with the spec or with other elements."""


class PaddingBitsError(FormatError):
    """Pad bits at the end of a layer segment are not zero."""


class StorageError(FormatError):
    """A dataset claims more rows or bytes than the file really stores."""


class ProvenanceError(FormatError):
    """The provenance record is not valid JSON or does not follow its schema."""


class ExternalDataError(FormatError):
    """An element keeps its data outside the file: external storage, a link or a virtual dataset."""


class LabelRangeError(FormatError):
    """A label or predicted class is outside -1 .. 2**31 - 1."""


class EmptySplitError(FormatError):
    """A split holds no rows."""


class CheckpointError(FormatError):
    """A checkpoint file is not a loadable actcode checkpoint (or would need unpickling)."""


class CheckpointVersionTooNewError(CheckpointError, VersionTooNewError):
    """A checkpoint of a newer major format version: update actcode to read it."""


class RefusedGlobalError(pickle.UnpicklingError):
    """A pickle asked for a global (or persistent id) that a restricted unpickler refuses."""


class ActcodeFileNotFoundError(ActcodeError, FileNotFoundError):
    """An input path does not exist (exit code 4)."""

    exit_code = 4


class DataNotFoundError(ActcodeFileNotFoundError):
    """The files of a dataset are not in the folder where actcode looked for them."""


class InvalidParameterError(ActcodeError, ValueError):
    """An option or argument is out of range or inconsistent with the data (exit code 5)."""

    exit_code = 5


class UntrustedCodeError(InvalidParameterError):
    """A file asks actcode to run code that the user did not name on the command line."""


class NoInputError(InvalidParameterError):
    """No input paths were given on the command line or on stdin."""


class ProbeError(ActcodeError):
    """A probe cannot run on the given codes (for example a single class)."""

    exit_code = 6


class PluginError(ActcodeError):
    """An installed plugin (an entry point of an ``actcode.*`` group) failed to load (exit code 1)."""


class OutputError(ActcodeError, OSError):
    """An output cannot be written where it was asked for (exit code 7)."""

    exit_code = 7


class LockTimeoutError(ActcodeError):
    """Another process holds the file's results lock for too long (exit code 8)."""

    exit_code = 8


class FileInUseError(ActcodeError):
    """Another process holds the file open for writing, so HDF5 refuses to open it (exit code 8)."""

    exit_code = 8


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code of an exception, as every ``actcode`` command exits with it.

    An :class:`ActcodeError` carries its own ``exit_code``; a missing file is
    :class:`ActcodeFileNotFoundError`'s, and an unwritable or full output
    :class:`OutputError`'s. Anything else is 1.

    Examples
    --------
    >>> exit_code_for(InvalidParameterError("x")), exit_code_for(FileNotFoundError())
    (5, 4)
    >>> exit_code_for(KeyError("not a user error"))
    1
    """
    if isinstance(exc, ActcodeError):
        return int(exc.exit_code)
    if isinstance(exc, FileNotFoundError):
        return ActcodeFileNotFoundError.exit_code
    if isinstance(exc, PermissionError | IsADirectoryError | NotADirectoryError):
        return OutputError.exit_code
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return OutputError.exit_code
    return ActcodeError.exit_code


class ActcodeWarning(UserWarning):
    """Root of actcode's warnings."""


class OldFormatWarning(ActcodeWarning):
    """A file of an older minor format version was read."""


class ClassCountWarning(ActcodeWarning):
    """A model predicts another number of classes than its data has: its accuracy means nothing."""


class NewerMinorVersionWarning(ActcodeWarning):
    """A file of a newer minor format version was read; unknown additions are ignored."""
