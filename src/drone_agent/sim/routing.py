"""MAVLink routing between the simulator's links, as ArduPilot's MAVLink_routing does it.

Theory of operation
-------------------
Every packet that arrives teaches the table that its source (system, component) is reachable over
the link it came in on (the vehicle's own address is never learned). Then:

* no target, or target system 0 (broadcast): the vehicle processes it, and it is forwarded to every
  *other* link that has a learned route (a link that has sent nothing yet gets no routed traffic,
  exactly as in ArduPilot);
* targeted at the vehicle (system 1, component 1): processed, not forwarded;
* targeted at system 1, component 0: processed, and forwarded to the links where system 1 was seen
  (the companion computer's components);
* targeted at anything else: forwarded to the links where that system (and component, unless 0)
  was seen, never back to the link it came from; not processed. Nothing is sent if no route is
  known, like ArduPilot.

Pure data structure: :meth:`RouteTable.route` returns ``(process_locally, links_to_forward_to)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RouteTable:
    own_sysid: int = 1
    own_compid: int = 1
    _routes: dict[tuple[int, int], int] = field(default_factory=dict)

    def learn(self, link: int, sysid: int, compid: int) -> None:
        if sysid == 0 or (sysid, compid) == (self.own_sysid, self.own_compid):
            return
        self._routes[(sysid, compid)] = link

    def forget_link(self, link: int) -> None:
        for key in [k for k, v in self._routes.items() if v == link]:
            del self._routes[key]

    def links_with_routes(self) -> set[int]:
        return set(self._routes.values())

    def route(self, in_link: int, target_system: int | None, target_component: int | None
              ) -> tuple[bool, set[int]]:
        if not target_system:  # None (no target field) or 0 (broadcast)
            return True, self.links_with_routes() - {in_link}
        comp = target_component or 0
        if target_system == self.own_sysid and comp == self.own_compid:
            return True, set()
        links = {link for (sysid, compid), link in self._routes.items()
                 if sysid == target_system and (comp == 0 or compid == comp)}
        links.discard(in_link)
        local = target_system == self.own_sysid and comp == 0
        return local, links
