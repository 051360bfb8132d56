"""Automation: keyword and regex rules, multi-step flows, A/B variants and starter packs. Rules and flows are
responders in the chain (appliance/responders.py: the customer asking for a person, then the customer's active
flow, then the rules by priority, then the assistant); they never need the model.

Modules:
    match.py       text folding and matching (keyword contains/exact/starts_with, regex, payload, event)
    safe_regex.py  the one regex engine: patterns checked at save, run with a time budget
    conditions.py  channel, customer tag, custom field, time of day/week in the tenant's time zone
    actions.py     what a rule or a flow step does (reply, template, tag/untag, set_field, handoff, start_flow,
                   webhook, assistant) into a `Turn`
    rules.py       the rules responder, match counts, event triggers (first_message, follow, unfollow, opt_in,
                   reopened)
    flows.py       versioned flows, per-customer runs (rows: a restart continues at the same step), asks with
                   validation, delays and time-outs
    flow_check.py  a flow definition's problems, each naming its step
    ab.py          sticky weighted variants, goals, results with a two-proportion z-test
    hooks.py       outgoing webhooks: HMAC-signed, time-limited, bounded retries, never blocking a reply
    packs/         starter packs (shop, spa, restaurant; Vietnamese and English) installed with one call

Shapes (the API's JSON, stored as is after validation):

Rule: {"name", "enabled": true, "priority": 100 (lower runs first), "continue": false,
       "match": {"type": "keyword", "mode": "contains"|"exact"|"starts_with", "keywords": ["giá", "price"]}
              | {"type": "regex", "pattern": "..."} | {"type": "payload", "payload": "BOOK"}
              | {"type": "event", "event": "first_message"|"follow"|"unfollow"|"opt_in"|"reopened"},
       "conditions": [{"type": "channel", "channels": ["zalo", "web"]},
                      {"type": "tag", "tag": "vip", "present": true},
                      {"type": "field", "field": "city", "op": "equals"|"not_equals"|"contains"|"exists"|"absent",
                       "value": "Hà Nội"},
                      {"type": "time", "days": [0, 1, 2, 3, 4, 5, 6] (Monday 0), "from": "08:00", "to": "21:00",
                       "inside": true}],
       "actions": [Action, ...]}
Action: {"type": "reply", "text", "buttons": [{"id", "title"}], "quick_replies": [{"id", "title"}]}
      | {"type": "template", "name", "language", "params": []}
      | {"type": "tag", "tag"} | {"type": "untag", "tag"} | {"type": "set_field", "field", "value"}
      | {"type": "handoff", "reason"} | {"type": "start_flow", "flow": "flw_..."}
      | {"type": "webhook", "url", "secret"} | {"type": "assistant"}
      | {"type": "ab", "experiment", "goal": Goal, "variants": [{"name", "weight", "actions": [Action, ...]}]}
Goal: {"type": "button", "payload"} | {"type": "tag", "tag"} | {"type": "step", "flow", "step"}
    | {"type": "no_handoff", "hours": 24}

Flow: {"name", "triggers": [{"type": "keyword", "mode", "keywords"} | {"type": "payload", "payload"}
                            | {"type": "event", "event"} | {"type": "schedule", "cron": "0 9 * * 1", "tag": "vip"}],
       "start": "<step id>", "timeout_minutes": 60 (optional: the `flow_timeout_minutes` setting otherwise),
       "steps": [Step, ...]}   (a rule's start_flow action is a trigger too)
Step: every step has "id"; all but end/jump/handoff may have "next" (none: the flow ends after it).
      {"type": "send", "text", "buttons", "media_url", "template"}
    | {"type": "ask", "text", "buttons", "field", "validate": "text"|"number"|"email"|"phone"|"date"|"choice",
       "retries": 2, "retry_text", "fallback": "<step id>"}
    | {"type": "condition", "branches": [{"if": Condition, "next"}], "default": "<step id>"}
      (Condition: as a rule's, plus {"type": "reply", "op", "value"} on the last answer)
    | {"type": "delay", "seconds"} | {"type": "tag", "tag"} | {"type": "untag", "tag"}
    | {"type": "set_field", "field", "value"} | {"type": "webhook", "url", "secret"}
    | {"type": "handoff", "reason"} | {"type": "assistant"} | {"type": "jump", "to"} | {"type": "end"}
    | {"type": "ab", "experiment", "goal": Goal, "variants": [{"name", "weight", "next"}]}
"""
