"""The procedures' numbers and rules, in one place.

The values below are the defaults, copied from TenSafe's incident response procedures
(`docs/procedures/incident-response-procedures.md`, section numbers in the comments); a test
parses that document and holds these defaults to it. The policy in force lives in the
database (`SeverityPolicy`, `EscalationRule`, `EscalationContact`, `PolicySettings`), seeded
from these defaults and changed by SRE leads through admin or `PATCH /api/v1/policy/`, every
change audited. Code reads the policy in force through `policy_for()` / `policy_settings()`,
never these constants.
"""

from __future__ import annotations

from .states import Checklist, Rank, Role, Severity, ranks_at_or_above

# --- Appendix A "Assign roles (Tech Lead, Comms, Scribe)" within the first minutes -----------
# Which roles each severity fills (`roles_required`), read from the procedures: an IC wherever
# 2.1 asks for a response (3.1 names one for every severity, but P4 is "No immediate action
# required"); a Communications Lead where 3.3 names one (P1, P2, P3); a Technical Lead and a
# Scribe (not the IC or Technical Lead, 3.4) where 2.1 sends more than one responder (P1
# "All-hands response", P2 "On-call engineer + backup"; P3 is "On-call engineer" alone).
EVERY_SINGLE_ROLE = [Role.INCIDENT_COMMANDER, Role.TECH_LEAD, Role.COMMS_LEAD, Role.SCRIBE]

# 3.1 / 3.3: "On-call engineer" is a fact about now (who is on call, 9.4), not a rank: a role
# with `*_on_call` admits whoever is on call when it is assigned, whatever their rank, besides
# the ranks listed ("or support": the support team's ranks, on call or not).
SUPPORT_RANKS = (Rank.SUPPORT, Rank.SUPPORT_LEAD)

# --- 2.1 Severity definitions, response requirements, targets; 3 role selection; 6.3; 8.1 ----
SEVERITY_DEFAULTS: dict[str, dict] = {
    Severity.P1: {
        "name": "Critical",
        "definition": "Complete service outage or critical security breach",
        "criteria": [
            "All users unable to access core services",
            "Complete API unavailability",
            "Active security breach with data exposure risk",
            "Data loss or corruption affecting multiple customers",
            "Payment processing failure",
        ],
        "response_requirements": [
            "All-hands response",
            "Executive notification",
            "Status page update within 10 minutes",
            "Customer communication within 15 minutes",
            "Continuous updates every 30 minutes",
        ],
        "notify_at_declaration": ["all_hands", "executives"],
        "target_resolution_minutes": 2 * 60,
        "ic_selection": "Engineering Manager or above",
        "ic_allowed_ranks": ranks_at_or_above(Rank.ENGINEERING_MANAGER),
        "ic_on_call": False,
        "comms_lead_selection": "Customer Success Manager or Support Lead",
        "comms_lead_allowed_ranks": [Rank.CUSTOMER_SUCCESS_MANAGER, Rank.SUPPORT_LEAD],
        "comms_lead_on_call": False,
        "bridge": "required",
        "roles_required": list(EVERY_SINGLE_ROLE),
        "status_page_first_minutes": 10,
        "customer_first_minutes": 15,
        "status_page_mode": "cadence",
        "status_page_every_minutes": 30,
        "internal_every_minutes": 15,
        "customer_email_mode": "cadence",
        "customer_email_every_minutes": 60,
        "pir_required": "required",
        "pir_due_hours": 72,
        "pir_attendees": "All involved + management",
        "action_review_every_days": 7,  # 8.4, for P1 *actions* (the item's priority)
    },
    Severity.P2: {
        "name": "Major",
        "definition": "Major functionality impaired affecting many users",
        "criteria": [
            "Core feature unavailable (training, inference, encryption)",
            "Performance degradation >50% of baseline",
            ">25% of requests failing",
            "Single region outage",
            "Authentication service degraded",
        ],
        "response_requirements": [
            "On-call engineer + backup",
            "Manager notification",
            "Status page update within 15 minutes",
            "Customer communication within 30 minutes",
            "Updates every hour",
        ],
        "notify_at_declaration": ["on_call", "backup_on_call", "manager"],
        "target_resolution_minutes": 4 * 60,
        "ic_selection": "Senior Engineer or above",
        "ic_allowed_ranks": ranks_at_or_above(Rank.SENIOR_ENGINEER),
        "ic_on_call": False,
        "comms_lead_selection": "On-call engineer or support",
        "comms_lead_allowed_ranks": list(SUPPORT_RANKS),
        "comms_lead_on_call": True,
        "bridge": "recommended",
        "roles_required": list(EVERY_SINGLE_ROLE),
        "status_page_first_minutes": 15,
        "customer_first_minutes": 30,
        "status_page_mode": "cadence",
        "status_page_every_minutes": 60,
        "internal_every_minutes": 30,
        "customer_email_mode": "end_of_incident",
        "customer_email_every_minutes": None,
        "pir_required": "required",
        "pir_due_hours": 7 * 24,
        "pir_attendees": "All involved",
        "action_review_every_days": 14,
    },
    Severity.P3: {
        "name": "Minor",
        "definition": "Minor functionality impaired with workaround available",
        "criteria": [
            "Non-critical feature unavailable",
            "Performance degradation 10-50%",
            "Intermittent errors (<10% of requests)",
            "Single customer impact",
            "Monitoring/alerting issues",
        ],
        "response_requirements": [
            "On-call engineer",
            "Status page update if customer-visible",
            "Updates every 4 hours",
        ],
        "notify_at_declaration": ["on_call"],
        "target_resolution_minutes": 24 * 60,
        "ic_selection": "On-call engineer",
        "ic_allowed_ranks": [],
        "ic_on_call": True,
        "comms_lead_selection": "On-call engineer or support",
        "comms_lead_allowed_ranks": list(SUPPORT_RANKS),
        "comms_lead_on_call": True,
        "bridge": "none",
        "roles_required": [Role.INCIDENT_COMMANDER, Role.COMMS_LEAD],
        "status_page_first_minutes": None,
        "customer_first_minutes": None,
        "status_page_mode": "initial_and_resolved",
        "status_page_every_minutes": None,
        "internal_every_minutes": 4 * 60,
        "customer_email_mode": "none",
        "customer_email_every_minutes": None,
        "pir_required": "optional",
        "pir_due_hours": 14 * 24,
        "pir_attendees": "Owning team",
        "action_review_every_days": None,
    },
    Severity.P4: {
        "name": "Low",
        "definition": "Minor issue with minimal impact",
        "criteria": [
            "Cosmetic issues",
            "Documentation errors",
            "Non-urgent maintenance",
            "Feature requests from incidents",
        ],
        "response_requirements": [
            "Assigned to engineering queue",
            "No immediate action required",
        ],
        "notify_at_declaration": ["engineering_queue"],
        "target_resolution_minutes": 30 * 24 * 60,
        "ic_selection": "On-call engineer",
        "ic_allowed_ranks": [],
        "ic_on_call": True,
        "comms_lead_selection": "",
        "comms_lead_allowed_ranks": [],
        "comms_lead_on_call": False,
        "bridge": "none",
        "roles_required": [],
        "status_page_first_minutes": None,
        "customer_first_minutes": None,
        "status_page_mode": "none",
        "status_page_every_minutes": None,
        "internal_every_minutes": None,
        "customer_email_mode": "none",
        "customer_email_every_minutes": None,
        "pir_required": "none",
        "pir_due_hours": None,
        "pir_attendees": "",
        "action_review_every_days": None,
    },
}

# --- 5.1 Automatic escalations, plus 5.2 "resolution taking longer than target" -------------
# trigger: "unacknowledged" (not acknowledged after_minutes after detection), "open" (not
# resolved after_minutes after detection), "security" (a security incident, at once),
# "over_target" (open past the severity's target resolution time).
ESCALATION_RULE_DEFAULTS: list[dict] = [
    {
        "severity": Severity.P1,
        "trigger": "unacknowledged",
        "after_minutes": 5,
        "target": "backup_on_call",
    },
    {
        "severity": Severity.P1,
        "trigger": "unacknowledged",
        "after_minutes": 10,
        "target": "engineering_manager",
    },
    {
        "severity": Severity.P2,
        "trigger": "unacknowledged",
        "after_minutes": 15,
        "target": "backup_on_call",
    },
    {"severity": Severity.P1, "trigger": "open", "after_minutes": 30, "target": "vp_engineering"},
    {"severity": Severity.P1, "trigger": "open", "after_minutes": 60, "target": "cto"},
    {"severity": "", "trigger": "security", "after_minutes": 0, "target": "security_lead"},
    {"severity": "", "trigger": "over_target", "after_minutes": None, "target": "ic_manager"},
]

# --- 5.3 Escalation contacts ----------------------------------------------------------------
ESCALATION_CONTACT_DEFAULTS: list[dict] = [
    {
        "role": "backup_on_call",
        "name": "Backup On-call",
        "contact_method": "PagerDuty",
        "response_minutes": 5,
        "p1_only": False,
    },
    {
        "role": "engineering_manager",
        "name": "Engineering Manager",
        "contact_method": "Slack + Phone",
        "response_minutes": 10,
        "p1_only": False,
    },
    {
        "role": "vp_engineering",
        "name": "VP Engineering",
        "contact_method": "Phone",
        "response_minutes": 15,
        "p1_only": False,
    },
    {
        "role": "cto",
        "name": "CTO",
        "contact_method": "Phone",
        "response_minutes": 15,
        "p1_only": False,
    },
    {
        "role": "security_lead",
        "name": "Security Lead",
        "contact_method": "PagerDuty",
        "response_minutes": 5,
        "p1_only": False,
    },
    {
        "role": "ceo",
        "name": "CEO",
        "contact_method": "Phone",
        "response_minutes": 30,
        "p1_only": True,
    },
]

# --- 9.4 On-call information: each team's escalation ----------------------------------------
# Team name -> the rank its escalations reach. Held in `Team.escalation_rank` (seeded with the
# teams, edited by SRE leads in admin); `escalation.Recipients` resolves 5.1's "Engineering
# Manager" (and 2.1's manager, the missing backup) through the affected services' teams.
TEAM_ESCALATION_DEFAULTS: dict[str, str] = {
    "Platform": Rank.ENGINEERING_MANAGER,
    "Security": Rank.SECURITY_LEAD,
    "Support": Rank.SUPPORT_MANAGER,
}

# --- Numbers that are not per severity --------------------------------------------------------
SETTINGS_DEFAULTS: dict = {
    "stability_window_minutes": 15,  # 7.4 "Monitoring confirms stability (15+ minutes)"
    "triage_window_minutes": 5,  # 4.2 "Initial Triage (First 5 Minutes)"
    "ic_first_minutes": 5,  # Appendix A "FIRST 5 MINUTES"
    "ic_roles_within_minutes": 15,  # Appendix A "FIRST 15 MINUTES"
    "channel_close_after_hours": 24,  # Appendix A "Close incident channel after 24h"
    "bridge_base_url": "https://meet.tensafe.io/incident",  # 6.1
    "status_page_url": "https://status.tensafe.io",  # 6.2 customer email
    "ack_link_valid_hours": 24,  # not in the procedures: how long a page's acknowledge link works
}

# --- Checklists: 4.3 triage, Appendix A IC checklist, 7.4 resolution criteria ----------------
# (key, text, phase). Keys let the platform tick an item itself when the thing happens.
CHECKLIST_DEFAULTS: dict[str, list[tuple[str, str, str]]] = {
    Checklist.TRIAGE: [
        ("alert_acknowledged", "Alert acknowledged", ""),
        ("issue_verified", "Issue verified (not false positive)", ""),
        ("severity_assessed", "Severity assessed", ""),
        ("incident_declared", "Incident declared (if P1/P2)", ""),
        ("ic_identified", "IC identified", ""),
        ("channel_established", "Communication channel established", ""),
        ("initial_status_page_update", "Initial status page update (if needed)", ""),
    ],
    Checklist.IC: [
        ("acknowledge_alert", "Acknowledge alert", "First 5 minutes"),
        ("verify_incident", "Verify incident", "First 5 minutes"),
        ("assess_severity", "Assess severity", "First 5 minutes"),
        ("declare_incident", "Declare incident", "First 5 minutes"),
        ("establish_channel", "Establish communication channel", "First 5 minutes"),
        ("assign_roles", "Assign roles (Tech Lead, Comms, Scribe)", "First 15 minutes"),
        ("update_status_page", "Update status page", "First 15 minutes"),
        ("begin_investigation", "Begin investigation", "First 15 minutes"),
        ("escalate_if_needed", "Escalate if needed", "First 15 minutes"),
        ("maintain_cadence", "Maintain communication cadence", "Ongoing"),
        ("track_timeline", "Track timeline", "Ongoing"),
        ("go_no_go", "Make go/no-go decisions", "Ongoing"),
        ("manage_resources", "Manage resources", "Ongoing"),
        ("verify_stability", "Verify stability (15+ minutes)", "Resolution"),
        ("status_page_resolved", "Update status page - resolved", "Resolution"),
        ("internal_summary", "Send internal summary", "Resolution"),
        ("schedule_pir", "Schedule PIR (if needed)", "Resolution"),
        ("close_channel", "Close incident channel after 24h", "Resolution"),
    ],
    Checklist.RESOLUTION: [
        ("root_cause_addressed", "Root cause addressed (or mitigated with tracking ticket)", ""),
        ("error_rates_baseline", "Error rates returned to baseline", ""),
        ("latency_baseline", "Latency returned to baseline", ""),
        ("no_customer_impact", "No ongoing customer impact", ""),
        ("monitoring_stable", "Monitoring confirms stability (15+ minutes)", ""),
        ("ic_declares_resolved", "IC declares resolved", ""),
    ],
}

# The resolution criterion that is the act of resolving itself: ticked by the resolve, never a
# precondition of it.
RESOLVE_ACT_KEY = "ic_declares_resolved"

# Items the platform ticks when the event happens (event -> [(checklist, key)]).
AUTO_TICKS: dict[str, list[tuple[str, str]]] = {
    "declared": [
        (Checklist.TRIAGE, "severity_assessed"),
        (Checklist.TRIAGE, "incident_declared"),
        (Checklist.TRIAGE, "channel_established"),
        (Checklist.IC, "assess_severity"),
        (Checklist.IC, "declare_incident"),
        (Checklist.IC, "establish_channel"),
    ],
    "acknowledged": [(Checklist.TRIAGE, "alert_acknowledged"), (Checklist.IC, "acknowledge_alert")],
    "ic_assigned": [(Checklist.TRIAGE, "ic_identified")],
    "resolved": [(Checklist.RESOLUTION, RESOLVE_ACT_KEY)],
    "channel_closed": [(Checklist.IC, "close_channel")],
}

# --- 8.3 PIR meeting agenda: (part, minutes, points) -----------------------------------------
PIR_AGENDA: list[tuple[str, int, tuple[str, ...]]] = [
    ("Introduction", 5, ("Set blameless tone", "Review meeting goals")),
    ("Timeline Review", 15, ("Walk through events", "Fill in gaps")),
    ("Root Cause Discussion", 20, ("Technical deep dive", "Contributing factors")),
    ("Response Evaluation", 10, ("What went well", "What could improve")),
    ("Action Item Creation", 15, ("Identify improvements", "Assign owners")),
    ("Wrap-up", 5, ("Summarize actions", "Set follow-up")),
]
