#!/usr/bin/python
# Copyright: facefleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make a role's accounts, files, folders and links on a host what the role declares, in
one run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: files
short_description: Make a role's accounts, files, folders and links as declared, and run its service
description:
  - Makes the role's system groups (O(groups)) and system users (O(users)) first, so that
    the paths can belong to them.
  - Takes a list of paths, each a file with its content, a folder, a symbolic link or
    nothing (absent), with its owner, group and mode, and makes each so on the host, in
    the order given. Each part (content, owner, group, mode) is written only when it
    differs, so a second run changes nothing.
  - The role renders the contents on the controller (C(lookup('ansible.builtin.template'))
    or C(lookup('ansible.builtin.file'))); this module only compares and writes.
  - One run on the host for all of a role's files. An C(ansible.builtin.template) or
    C(ansible.builtin.copy) task costs two module runs per file even when nothing changes
    (a stat, then the attributes), about 0.4 s of a host's CPU each; a deploy with nothing
    to change was mostly those.
  - A file is replaced atomically; with O(paths[].validate), its staged copy is checked
    first and a failed check leaves the file as it was.
  - With O(service), the service those files configure is then made to run now and at
    boot, in the same run (a start task of its own would cost another run). It is not
    restarted when it already runs; a changed file notifies the role's handler for that.
  - A path whose content is a secret sets O(paths[].secret), so that its content is
    neither shown in the diff nor returned.
version_added: 1.0.0
author: facefleet contributors
options:
  groups:
    description: System groups to make, when the host has no group of that name.
    type: list
    elements: str
    default: []
  users:
    description:
      - System users, made with C(useradd) when missing; an existing one gets the declared
        group, groups, home and shell with C(usermod) where they differ (its home is
        never moved).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The user's name.
        type: str
        required: true
      group:
        description: Its primary group (an existing one, or one of O(groups)).
        type: str
        required: true
      groups:
        description: Exactly the other groups it is a member of.
        type: list
        elements: str
        default: []
      home:
        description: Its home folder.
        type: path
        required: true
      shell:
        description: Its login shell.
        type: str
        default: /usr/sbin/nologin
      create_home:
        description: Whether C(useradd) makes the home folder of a new user.
        type: bool
        default: false
  paths:
    description: What each path should be, in the order to make them (a folder before its files).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path on the host.
        type: path
        required: true
      state:
        description:
          - C(file), a file with O(paths[].content); C(directory), a folder (with its
            parents); C(link), a symbolic link to O(paths[].src); C(absent), nothing there.
        type: str
        choices: [file, directory, link, absent]
        default: file
      content:
        description: The file's text (required when O(paths[].state=file)).
        type: str
      src:
        description: Where the link points (required when O(paths[].state=link)).
        type: str
      owner:
        description: Owner of the path (of the link itself for a link).
        type: str
        default: root
      group:
        description: Group of the path.
        type: str
        default: root
      mode:
        description: Mode, as an octal string such as C("0644"); not used for links.
        type: str
      validate:
        description:
          - Command that checks the staged file before it replaces the path, with C(%s)
            for the staged file's name.
        type: str
      force:
        description:
          - When false, an existing file is left as it is (content, owner, group and
            mode), as C(ansible.builtin.copy) leaves it. For files the service rewrites
            itself, such as Sentinel's.
        type: bool
        default: true
      secret:
        description:
          - The content is a secret (a password, a private key). Its diff says only that
            it differs, and the module masks it in everything it returns, its arguments
            included, even when the task fails. The task needs no C(no_log), so that
            the other paths' diffs and a failed start's status stay visible.
          - When its O(paths[].validate) fails, none of the validator's output is
            returned, since a validator may quote the file it rejects. The rejected
            content is kept beside the file as C(<path>.rejected) (mode C(0600)), and the
            message gives the command to check it on the host. The next write of the file
            removes it.
        type: bool
        default: false
  service:
    description:
      - A systemd unit to make active and enabled once the paths are as declared.
      - systemd reloads its unit files first when one of the paths changed, or when it
        says it needs to (a drop-in written earlier in the run).
      - In check mode, a unit systemd does not know yet (its package would be installed
        by an earlier task) is reported as one to start, not as an error.
      - A unit that is not active is started afresh (C(systemctl reset-failed), then
        C(restart)), and once more after 2 s if that fails; then the task fails with the
        unit's status.
    type: str
attributes:
  check_mode:
    support: full
    details: Reports what would change, with its diff; writes nothing and runs no validate.
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Write nginx's site and enable it
  facefleet.fleet.files:
    paths:
      - path: /etc/nginx/sites-available/facefleet
        content: "{{ lookup('ansible.builtin.template', 'facefleet-site.conf.j2') }}"
        mode: "0644"
      - path: /etc/nginx/sites-enabled/facefleet
        state: link
        src: /etc/nginx/sites-available/facefleet
    service: nginx
  notify: Reload nginx

- name: Make Flower's user, its data folder and its configuration
  facefleet.fleet.files:
    groups: [flower]
    users:
      - name: flower
        group: flower
        groups: [facefleet]
        home: /var/lib/flower
    paths:
      - path: /var/lib/flower
        state: directory
        owner: flower
        group: flower
        mode: "0750"
"""

RETURN = r"""
changed_accounts:
  description: The groups and users that were (or would be) made or changed, in the order given.
  returned: always
  type: list
  elements: str
changed_paths:
  description: The paths that changed (or would, in check mode), in the order given.
  returned: always
  type: list
  elements: str
service_changed:
  description: Whether O(service) was (or would be) started or enabled.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.facefleet.fleet.plugins.module_utils.account_state import (
    declare_group,
    declare_user,
)
from ansible_collections.facefleet.fleet.plugins.module_utils.file_state import (
    declare_absent,
    declare_directory,
    declare_file,
    declare_link,
)
from ansible_collections.facefleet.fleet.plugins.module_utils.unit_state import run_unit

PATH_OPTIONS = {
    "path": {"type": "path", "required": True},
    "state": {
        "type": "str",
        "choices": ["file", "directory", "link", "absent"],
        "default": "file",
    },
    "content": {"type": "str"},
    "src": {"type": "str"},
    "owner": {"type": "str", "default": "root"},
    "group": {"type": "str", "default": "root"},
    "mode": {"type": "str"},
    "validate": {"type": "str"},
    "force": {"type": "bool", "default": True},
    "secret": {"type": "bool", "default": False},
}

USER_OPTIONS = {
    "name": {"type": "str", "required": True},
    "group": {"type": "str", "required": True},
    "groups": {"type": "list", "elements": "str", "default": []},
    "home": {"type": "path", "required": True},
    "shell": {"type": "str", "default": "/usr/sbin/nologin"},
    "create_home": {"type": "bool", "default": False},
}


def declare(module: AnsibleModule, item: dict) -> list[dict]:
    """Make one path what ``item`` declares; its diffs (none when it already is)."""
    path, state = item["path"], item["state"]
    attributes = (item["owner"], item["group"], item["mode"])
    if state in ("file", "directory") and not item["mode"]:
        module.fail_json(msg=f"{path}: give its mode (a new file would be 0600)")
    if state == "file":
        if item["content"] is None:
            module.fail_json(msg=f"{path}: a file needs its content")
        return declare_file(
            module,
            path,
            item["content"],
            attributes,
            validate=item["validate"],
            force=item["force"],
            secret=item["secret"],
        )
    if state == "directory":
        return declare_directory(module, path, attributes)
    if state == "link":
        if not item["src"]:
            module.fail_json(msg=f"{path}: a link needs its src")
        return declare_link(module, path, item["src"], item["owner"], item["group"])
    return declare_absent(module, path)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "groups": {"type": "list", "elements": "str", "default": []},
            "users": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": USER_OPTIONS,
            },
            "paths": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": PATH_OPTIONS,
            },
            "service": {"type": "str"},
        },
        supports_check_mode=True,
    )
    # Masked in whatever the module returns, its arguments included, as no_log values are.
    for item in module.params["paths"]:
        if item["secret"] and item["content"]:
            module.no_log_values.add(item["content"])
    changed_accounts, diffs = [], []
    for name in module.params["groups"]:
        changes = declare_group(module, name)
        if changes:
            changed_accounts.append(f"group {name}")
            diffs += changes
    for user in module.params["users"]:
        changes = declare_user(module, user)
        if changes:
            changed_accounts.append(f"user {user['name']}")
            diffs += changes
    changed_paths = []
    for item in module.params["paths"]:
        changes = declare(module, item)
        if changes:
            changed_paths.append(item["path"])
            diffs += changes
    service_diffs = []
    if module.params["service"]:
        service_diffs = run_unit(module, module.params["service"], bool(changed_paths))
    module.exit_json(
        changed=bool(changed_accounts or changed_paths or service_diffs),
        changed_accounts=changed_accounts,
        changed_paths=changed_paths,
        service_changed=bool(service_diffs),
        diff=diffs + service_diffs,
    )


if __name__ == "__main__":
    main()
