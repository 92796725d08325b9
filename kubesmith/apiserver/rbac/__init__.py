"""Role-based access control: rule matching, the RBAC authorizer, the bootstrap policy,
ClusterRole aggregation and escalation checks for writes to RBAC objects."""

from kubesmith.apiserver.rbac.aggregation import aggregate, reconcile_aggregation
from kubesmith.apiserver.rbac.authorizer import RBACAuthorizer
from kubesmith.apiserver.rbac.bootstrap import cluster_role_bindings, cluster_roles, reconcile
from kubesmith.apiserver.rbac.escalation import EscalationGuard, check_escalation
from kubesmith.apiserver.rbac.rules import PolicyRule, rule_allows

__all__ = ["EscalationGuard", "PolicyRule", "RBACAuthorizer", "aggregate",
           "check_escalation", "cluster_role_bindings", "cluster_roles", "reconcile",
           "reconcile_aggregation", "rule_allows"]
