"""The filters that give worker identities (plugin_utils/workers.py) to templates:

{{ inventory_hostname | facefleet.fleet.worker_programs(3, saved_count, prefix, node_prefix) }}
"""

from __future__ import annotations

from typing import Any

from ansible_collections.facefleet.fleet.plugins.plugin_utils.workers import (
    fleet_workers,
    worker_programs,
)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"worker_programs": worker_programs, "fleet_workers": fleet_workers}
