"""Built-in defaults: `instance/config.py` overrides them, environment variables last.

Secret-free on purpose: `SECRET_KEY` is generated into `instance/` on first start.
"""

# Base URL shown to Okta and in emails (redirect URL, ACS, SCIM base, links).
# Empty: the address saved at first-run setup (flask site set-url); never the request.
PUBLIC_BASE_URL = ""

# SQLAlchemy URL; empty means `sqlite:///<instance>/gatehouse.sqlite`.
DATABASE_URL = ""

# Number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted.
TRUST_PROXY = 0

# Outgoing mail. Without SMTP_HOST, messages are written to instance/outbox/.
SMTP_HOST = ""
SMTP_PORT = 587
SMTP_USERNAME = ""
SMTP_PASSWORD = ""
SMTP_STARTTLS = True
SMTP_SSL = False
SMTP_TIMEOUT = 10
MAIL_FROM = "Gatehouse <gatehouse@localhost>"

# Allow http:// metadata URLs on 127.0.0.1/localhost (local trials and tests only).
OKTA_ALLOW_INSECURE_LOOPBACK = False

# Sign-in throttle: this many failures within the window locks that key for the window.
SIGNIN_MAX_FAILURES_PER_ACCOUNT = 5
SIGNIN_MAX_FAILURES_PER_ADDRESS = 20
SIGNIN_FAILURE_WINDOW_SECONDS = 15 * 60
# Refused SAML answers per client address within that window before the ACS
# answers 429 without reading them (each refusal is an audit row).
SAML_MAX_FAILURES_PER_ADDRESS = 30
# "Forgot your password?" requests per client address within that window; past
# it the page answers 429 whatever the email (each account also gets at most
# one reset email every PASSWORD_RESET_EMAIL_INTERVAL_SECONDS).
PASSWORD_RESET_MAX_PER_ADDRESS = 10
PASSWORD_RESET_EMAIL_INTERVAL_SECONDS = 5 * 60

# How long a signed-in session lasts, at most, in seconds.
SESSION_MAX_AGE_SECONDS = 14 * 24 * 3600

# Session cookie: never readable by scripts, not sent on cross-site POSTs.
# Secure is added automatically on https requests (see core/security.py).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = False
SESSION_COOKIE_NAME = "gatehouse_session"

# Flask-WTF: tokens live as long as the session.
WTF_CSRF_TIME_LIMIT = None

MEMBERS_PER_PAGE = 50
AUDIT_PER_PAGE = 50

# SCIM: largest request body accepted, and how long provisioning activity is kept.
SCIM_MAX_BODY_BYTES = 1024 * 1024
SCIM_ACTIVITY_RETENTION_DAYS = 30
SCIM_MAX_PAGE_SIZE = 1000
# Members listed in one GET /Groups page, all groups together: a page stops
# before the group that would pass it (it always holds at least one group), and
# itemsPerPage says how many groups came back.
SCIM_MAX_LISTED_MEMBERS = 10000

# How long audit events are kept, in days (older ones are deleted).
AUDIT_RETENTION_DAYS = 400
# Delete audit events and SCIM activity past their retention automatically,
# at most every 10 minutes, after a response has been sent (one app server
# at a time). Off: run `flask prune` from cron instead. Tests leave it off
# unless they set it.
HOUSEKEEPING_AUTOMATIC = True

# Largest request body outside SCIM and the SAML ACS (which set their own caps):
# forms are small, so a 50 MB POST /login is refused (413) before it is parsed.
MAX_CONTENT_LENGTH = 256 * 1024

# Okta Universal Logout (POST /api/v1/okta/universal-logout): the tokens' clock
# skew, their longest accepted lifetime, how long Okta's keys are cached, how
# soon an unknown key id may make Gatehouse fetch them again, the largest body,
# and failed requests per client address within SIGNIN_FAILURE_WINDOW_SECONDS
# before the endpoint answers 429 without reading them.
ULO_CLOCK_SKEW_SECONDS = 60
ULO_MAX_TOKEN_LIFETIME_SECONDS = 3600
ULO_KEYS_TTL_SECONDS = 3600
ULO_KEYS_REFETCH_SECONDS = 60
# After a failed fetch of Okta's keys, how long before the next try (per source).
ULO_KEYS_BACKOFF_SECONDS = 30
ULO_MAX_BODY_BYTES = 8 * 1024
ULO_MAX_FAILURES_PER_ADDRESS = 20
