"""Views of the settings blueprint."""

from __future__ import annotations

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user
from flask_login import login_required
from werkzeug.wrappers import Response

from blueprints.settings import bp
from blueprints.settings.forms import RenameForm
from core import provisioning
from core.extensions import db
from core.models import Group
from core.models import OktaIdentity
from core.models import User
from core.security import admin_required


def _count(query: object) -> int:
    return db.session.execute(query).scalar_one()  # type: ignore[arg-type]


@bp.get("/organization")
@login_required
def organization() -> str:
    """Overview of the signed-in user's organization."""
    org = current_user.organization
    count = db.select(db.func.count())
    counts = {
        "members": _count(count.select_from(User).filter_by(organization_id=org.id)),
        "active": _count(
            count.select_from(User).filter_by(organization_id=org.id, status="active")
        ),
        "groups": _count(count.select_from(Group).filter_by(organization_id=org.id)),
        "linked": _count(
            db.select(db.func.count(db.distinct(OktaIdentity.user_id))).filter_by(
                organization_id=org.id
            )
        ),
    }
    return render_template("settings/organization.html", org=org, counts=counts)


@bp.get("/settings")
@admin_required
def index() -> str:
    """Organization settings: name, plan, single sign-on."""
    org = current_user.organization
    return render_template(
        "settings/index.html", org=org, rename_form=RenameForm(name=org.name)
    )


@bp.post("/settings/name")
@admin_required
def rename() -> Response | tuple[str, int]:
    """Rename the organization (owners only)."""
    if current_user.role != "owner":
        abort(403)
    org = current_user.organization
    form = RenameForm()
    if form.validate_on_submit():
        try:
            provisioning.rename_organization(org, form.name.data, actor=current_user)
        except provisioning.AccountError as exc:
            form.name.errors.append(str(exc))
        else:
            flash(f"The organization is now called {org.name}.", "success")
            return redirect(url_for("settings.index"))
    return render_template("settings/index.html", org=org, rename_form=form), 400
