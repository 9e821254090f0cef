# Copy to instance/config.py and edit. Environment variables of the same name win.
# PUBLIC_BASE_URL = "https://gatehouse.example.com"
# DATABASE_URL = "postgresql+psycopg://gatehouse:...@db/gatehouse"
# TRUST_PROXY = 1
# SMTP_HOST = "smtp.example.com"
# SMTP_PORT = 587
# SMTP_USERNAME = "gatehouse"
# SMTP_PASSWORD = "..."
# MAIL_FROM = "Gatehouse <gatehouse@example.com>"
