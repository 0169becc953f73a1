# Copyright: facefleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make one path on a host what a role declares (a file's content, a folder, a link, or
nothing), each part only if it differs, and say what differed as Ansible diffs.

The collection's modules share it: `files` (a role's files in one run on the host) and
`worker_set` (the workers' two files, then the apply). One run on the host that checks
many paths costs what one `stat` costs; a `template` task costs two runs per file.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

STAGED_PREFIX = ".facefleet-"


def read(path: str) -> bytes | None:
    """The file's bytes, or None when there is no file."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


# Where a secret file's content that failed its validate is kept (mode 0600), so that
# the operator can run the check on the host and see why.
REJECTED_SUFFIX = ".rejected"


def write(
    module: AnsibleModule,
    path: str,
    data: bytes,
    validate: str | None = None,
    *,
    secret: bool = False,
) -> None:
    """Replace ``path`` atomically (a reader never sees half a file). With ``validate`` (a
    command with ``%s``), the staged copy is checked first, and a failed check fails the
    module with the file left as it was.

    A ``secret`` file's failed check returns none of the validator's output, which may
    quote the file (a type error that names the value). The rejected content is kept
    beside the file instead, as ``<path>.rejected`` with mode 0600, and the message says
    how to check it there. The next write of the file removes it."""
    descriptor, staged = tempfile.mkstemp(dir=os.path.dirname(path), prefix=STAGED_PREFIX)
    rejected = path + REJECTED_SUFFIX
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        if validate:
            if "%s" not in validate:
                module.fail_json(msg=f"validate must contain %s: {validate}")
            rc, out, err = module.run_command(validate % staged)
            if rc != 0:
                if secret:
                    os.replace(staged, rejected)  # mkstemp made it 0600, its owner is ours
                    module.fail_json(
                        msg=f"{path}: {validate} failed (rc {rc}). Its output is not shown, "
                        f"as the file is a secret; the rejected content is in {rejected} "
                        f"(mode 0600): run `{validate % rejected}` on the host to see why. "
                        "The next write of the file removes it.",
                        rc=rc,
                    )
                module.fail_json(
                    msg=f"{path}: {validate} failed (rc {rc}): {(err or out).strip()}",
                    rc=rc,
                    stdout=out,
                    stderr=err,
                )
        module.atomic_move(staged, path)
        if secret and os.path.lexists(rejected):
            os.unlink(rejected)
    finally:
        if os.path.lexists(staged):
            os.unlink(staged)


def settle_attributes(
    module: AnsibleModule,
    path: str,
    owner: str | None,
    group: str | None,
    mode: str | None,
    diffs: list[dict],
) -> list[dict]:
    """Give ``path`` this owner, group and mode where they differ (in check mode, only
    say so). Returns ``diffs``, with the attributes' diff added when they differed and
    nothing else about the path did (a content or state diff already says it changed)."""
    file_args = {
        "path": path,
        "owner": owner,
        "group": group,
        "mode": mode,
        "attributes": None,
        "secontext": [None, None, None],
    }
    diff: dict = {"before_header": f"{path} (owner, group, mode)", "after_header": path}
    if module.set_fs_attributes_if_different(file_args, False, diff=diff) and not diffs:
        diffs.append(diff)
    return diffs


# What a secret file's content diff shows instead of its old and new content.
SECRET_BEFORE = "(secret: not shown)\n"
SECRET_AFTER = "(new secret: not shown)\n"


def declare_file(
    module: AnsibleModule,
    path: str,
    content: str,
    attributes: tuple[str | None, str | None, str | None],
    *,
    staged: str | None = None,
    validate: str | None = None,
    force: bool = True,
    secret: bool = False,
) -> list[dict]:
    """Make ``path`` hold ``content`` with these (owner, group, mode), each only if it
    differs; returns the diffs (none when the file is as declared).

    When the content differs, ``staged`` (if given) is what is written for now, in its
    place. With ``force`` false, an existing file is left alone, content and attributes
    (a file its service rewrites, such as Sentinel's), as Ansible's copy leaves it. A
    ``secret`` content's diff says only that it differs (SECRET_BEFORE, SECRET_AFTER)."""
    wanted = to_bytes(content)
    current = read(path)
    if current is not None and not force:
        return []
    diffs = []
    if current != wanted:
        diffs.append(
            {
                "before_header": path,
                "after_header": path,
                "before": "" if not current else SECRET_BEFORE if secret else to_text(current),
                "after": SECRET_AFTER if secret else content,
            }
        )
        if not module.check_mode:
            data = wanted if staged is None else to_bytes(staged)
            write(module, path, data, validate, secret=secret)
    if current is None and module.check_mode:
        return diffs  # a new file: its attributes are set when it is written
    return settle_attributes(module, path, *attributes, diffs)


def _state_diff(path: str, before: str, after: str) -> dict:
    return {"before": {"path": path, "state": before}, "after": {"path": path, "state": after}}


def _current_state(path: str) -> str:
    if os.path.islink(path):
        return "link"
    if os.path.isdir(path):
        return "directory"
    return "file" if os.path.exists(path) else "absent"


def declare_directory(
    module: AnsibleModule, path: str, attributes: tuple[str | None, str | None, str | None]
) -> list[dict]:
    """Make ``path`` a folder (its parents too) with these (owner, group, mode)."""
    current = _current_state(path)
    if current not in ("directory", "absent"):
        module.fail_json(msg=f"{path} is a {current}, not a folder; remove it first")
    diffs = []
    if current == "absent":
        diffs.append(_state_diff(path, "absent", "directory"))
        if module.check_mode:
            return diffs
        os.makedirs(path)
    return settle_attributes(module, path, *attributes, diffs)


def declare_link(
    module: AnsibleModule, path: str, target: str, owner: str | None, group: str | None
) -> list[dict]:
    """Make ``path`` a symbolic link to ``target`` (replacing a file or another link), owned
    as given (the link itself, not its target)."""
    current = os.readlink(path) if os.path.islink(path) else None
    diffs = []
    if current != target:
        if os.path.isdir(path) and current is None:
            module.fail_json(msg=f"{path} is a folder, not a link; remove it first")
        diffs.append(
            {
                "before": {"path": path, "src": current or _current_state(path)},
                "after": {"path": path, "src": target},
            }
        )
        if module.check_mode:
            return diffs
        staged = os.path.join(
            os.path.dirname(path), f"{STAGED_PREFIX}{os.path.basename(path)}.{os.getpid()}"
        )
        if os.path.lexists(staged):
            os.unlink(staged)
        os.symlink(target, staged)
        os.rename(staged, path)
    return settle_attributes(module, path, owner, group, None, diffs)


def declare_absent(module: AnsibleModule, path: str) -> list[dict]:
    """Make sure nothing is at ``path`` (a file, a link, or a folder and all it holds)."""
    current = _current_state(path)
    if current == "absent":
        return []
    if not module.check_mode:
        try:
            if current == "directory":
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError as exc:
            module.fail_json(msg=f"cannot remove {path}: {to_native(exc)}")
    return [_state_diff(path, current, "absent")]
