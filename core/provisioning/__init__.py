"""Creating and changing organizations, users, API keys and groups.

Pages, the CLI, SCIM and Okta sign-in all call these modules, so the rules
(uniqueness, who may change whom, what deactivation revokes) live once:
`organizations`, `users` (members), `profiles` (a member's SCIM profile),
`identities` (unlinking Okta), `api_keys`, `groups`. Import the module that
defines a name (`from core.provisioning import users`); this package re-exports
nothing.
"""
