"""Creating and changing organizations, users, API keys and groups.

Pages, the CLI, SCIM and Okta sign-in all call these modules, so the rules
(uniqueness, who may change whom, what deactivation revokes) live once:
`organizations`, `users` (members), `profiles` (a member's SCIM profile),
`identities` (unlinking Okta), `api_keys`, `groups`. Import the module that
defines a name (`from core.provisioning import users`); this package re-exports
nothing.

Who commits
-----------
A service commits its unit of work: the function that makes a change a person
or the command line asked for (`users.change_role`, `api_keys.create_api_key`,
`organizations.set_plan`, `core.sso.configure_saml`, ...) checks it, audits it
and commits, once. Views and CLI commands never call `db.session.commit()`;
they may roll back after a refused change. Building blocks that a larger unit
of work combines say "not committed" (`users.new_user`, `users.deactivate_user`,
`users.delete_user`, everything in `profiles` and `groups`, `audit.record`,
`audit.record_repeated`, `urls.save_public_base_url`).

Exceptions, each a transaction of its own on purpose:

- SCIM: a request's views change and flush, and the blueprint's
  `after_request` hook adds the activity row (and the audit event) and commits
  once; after an error it rolls back and commits the activity row alone, so a
  refused request is logged and nothing of it is half-applied.
- Throttle failure rows (`throttle.record_failure`) commit at once, so the
  count holds whatever the request does next and every worker sees it;
  `throttle.clear_account` too, unless a service passes `commit=False`;
  `throttle.clear_user` (one account's failures) never commits on its own.
- Session rows (`sessions.start_session`, `sessions.end_session`): signing in
  or out commits, with what the sign-in recorded before it.
- Housekeeping: `housekeeping.prune` commits each batch of rows, so a large
  backlog never holds a long transaction; the prune stamp is a compare-and-set
  committed at once (`claim_prune`, `note_pruned`).
- Install-wide rows that several workers race to write: the setup code
  (`first_run.setup_code`, `forget_setup_code`) and the SECRET_KEY mark
  (`key_check.record`), each settled by its primary key. Creating the first
  organization commits it, then these.
"""
