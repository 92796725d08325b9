"""CertificateSigningRequests: the spec never changes after create; ``/approval`` changes
only the Approved/Denied conditions, ``/status`` the certificate and other conditions."""

from __future__ import annotations

from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj

_DECISIONS = ("Approved", "Denied")


class CertificateSigningRequestStrategy(Strategy):
    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        new["spec"] = old.get("spec", {})
        super().prepare_for_update(new, old)

    def prepare_for_subresource(self, subresource: str, new: Obj, old: Obj) -> None:
        if subresource != "approval":
            super().prepare_for_subresource(subresource, new, old)
            return
        decisions = [c for c in (new.get("status") or {}).get("conditions") or []
                     if isinstance(c, dict) and c.get("type") in _DECISIONS]
        others = [c for c in (old.get("status") or {}).get("conditions") or []
                  if isinstance(c, dict) and c.get("type") not in _DECISIONS]
        self.prepare_for_status_update(new, old)
        status = dict(old.get("status") or {})
        status["conditions"] = others + decisions
        if not status["conditions"]:
            del status["conditions"]
        new["status"] = status
