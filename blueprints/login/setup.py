"""First-run setup: the first organization, its owner, and the public address.

Every field is checked before anything is stored, and every problem is shown at
its field at once; what was typed comes back in the form, except the passwords.
"""

from __future__ import annotations

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from blueprints.login import bp
from blueprints.login.forms import SetupForm
from core import audit
from core import first_run
from core.authority import AccountError
from core.next_steps import Step
from core.next_steps import next_steps
from core.provisioning import organizations
from core.provisioning import users
from core.security import password_problem
from core.sessions import start_session
from core.urls import base_url_problem
from core.urls import save_public_base_url
from core.urls import stored_public_base_url

WRONG_CODE = (
    "That is not the setup code. It is printed in the server's output when it starts."
)


@bp.route("/setup", methods=("GET", "POST"))
def setup() -> Response | str | tuple[str, int]:
    """First run: create the first organization and its owner."""
    if not first_run.setup_needed():
        return redirect(url_for("login.login"))
    form = SetupForm()
    configured = current_app.config.get("PUBLIC_BASE_URL") or None
    page = {"form": form, "configured_url": configured}
    if request.method == "GET":
        # A suggestion only: the person setting up confirms or corrects it.
        form.public_url.data = stored_public_base_url() or request.url_root.rstrip("/")
    if request.method == "GET":
        return render_template("login/setup.html", **page)
    valid = form.validate()
    code_ok = check_code(form)
    if not (check_fields(form, configured) and valid and code_ok):
        return render_template("login/setup.html", **page), 400 if code_ok else 403
    if not configured:
        save_public_base_url(form.public_url.data or "")
    try:
        org, owner = organizations.create_organization(
            form.organization.data,
            owner_email=form.email.data,
            owner_password=form.password.data,
            plan=form.plan.data,
            owner_given_name=form.given_name.data or "",
            owner_family_name=form.family_name.data or "",
        )
    except AccountError as exc:
        form.form_errors.append(str(exc))
        return render_template("login/setup.html", **page), 400
    audit.record(
        "organization.created", org, actor=owner, target=org.name, plan=org.plan
    )
    audit.record("sign_in.succeeded", org, actor=owner, method="setup")
    start_session(owner, "setup")
    flash(f"Welcome! {org.name} is ready.", "success")
    return redirect(url_for("members.index"))


def check_code(form: SetupForm) -> bool:
    """False when a code was typed and is not the install's (a missing code
    is the form's own error: 400, not 403)."""
    code = form.setup_code.data or ""
    if not code or first_run.check_setup_code(code):
        return True
    current_app.logger.warning("Wrong setup code from %s", request.remote_addr)
    form.setup_code.errors = [*form.setup_code.errors, WRONG_CODE]
    return False


def check_fields(form: SetupForm, configured: str | None) -> bool:
    """Run the checks organization creation runs, each at its own field, so that
    every problem is shown at once; True when there is none."""
    problems = {
        form.organization: organizations.organization_name_problem(
            form.organization.data or ""
        ),
        form.given_name: users.person_name_problem(form.given_name.data or ""),
        form.family_name: users.person_name_problem(form.family_name.data or ""),
        form.email: email_problem(form.email.data or ""),
    }
    problems[form.password] = password_problem(form.password.data or "")
    if not configured:
        problems[form.public_url] = base_url_problem(form.public_url.data or "")
    clean = True
    for field, problem in problems.items():
        if problem and not field.errors:
            field.errors = [problem]
        clean = clean and not (problem or field.errors)
    return clean


def email_problem(email: str) -> str | None:
    """Say what is wrong with the owner's email, or None."""
    try:
        users.normalize_email(email)
    except AccountError as exc:
        return str(exc)
    return None


@bp.app_template_global("setup_next_steps")
def open_next_steps() -> list[Step]:
    """The setup steps still open, for an owner or admin (members/_next_steps.html)."""
    if not current_user.is_authenticated or not current_user.is_admin:
        return []
    return [step for step in next_steps(current_user.organization) if not step.done]
