"""Views of the api_keys blueprint.

What a person may create is decided by core.authority (through
core.provisioning.api_keys.create_api_key); the form only leaves out what would be
refused.
"""

from __future__ import annotations

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user
from flask_login import login_required
from werkzeug.wrappers import Response

from blueprints.api_keys import bp
from blueprints.api_keys.forms import CreateKeyForm
from blueprints.api_keys.forms import RevokeKeyForm
from core.authority import AccountError
from core.authority import Actor
from core.extensions import db
from core.key_authority import key_creation_problem
from core.key_authority import key_warning
from core.models import ApiKey
from core.provisioning import api_keys


def visible_keys_query():  # type: ignore[no-untyped-def]
    """Keys the signed-in user may see: all of the organization's for admins,
    their own personal keys for members."""
    query = db.select(ApiKey).filter_by(organization_id=current_user.organization_id)
    if not current_user.is_admin:
        query = query.filter_by(user_id=current_user.id)
    return query


def create_form() -> CreateKeyForm:
    """The create form: only the scopes, kinds and roles the user may choose."""
    form = CreateKeyForm()
    actor = Actor.of_user(current_user)
    form.scopes.choices = [
        choice
        for choice in form.scopes.choices
        if not key_creation_problem(
            actor, scopes=[choice.value], personal=True, role=None
        )
    ]
    if not current_user.is_admin:
        form.kind.choices = [form.kind.choices[0]]
    if current_user.role != "owner":
        form.role.choices = [form.role.choices[0]]
    return form


def render_index(form: CreateKeyForm, new_secret: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    """Render the keys page (the new secret, if any, is shown this once)."""
    keys = (
        db.session.execute(
            visible_keys_query().order_by(
                ApiKey.revoked_at.is_not(None), ApiKey.id.desc()
            )
        )
        .scalars()
        .all()
    )
    return (
        render_template(
            "api_keys/index.html",
            keys=keys,
            warnings={key.id: key_warning(key) for key in keys},
            form=form,
            revoke_form=RevokeKeyForm(),
            new_secret=new_secret,
        ),
        status,
    )


@bp.get("")
@login_required
def index():  # type: ignore[no-untyped-def]
    """List keys and offer to create one."""
    return render_index(create_form())


@bp.post("")
@login_required
def create():  # type: ignore[no-untyped-def]
    """Create a key and show its secret once (never stored, never shown again)."""
    form = create_form()
    if not form.scopes.choices:
        abort(403)
    if not form.validate_on_submit():
        return render_index(form, status=400)
    personal = form.kind.data != "organization"
    try:
        _key, secret = api_keys.create_api_key(
            current_user.organization,
            name=form.name.data,
            scopes=form.scopes.data,
            user=current_user if personal else None,
            actor=current_user,
            role=None if personal else form.role.data,
        )
    except AccountError as exc:
        form.form_errors.append(str(exc))
        return render_index(form, status=400)
    return render_index(create_form_blank(), new_secret=secret, status=201)


def create_form_blank() -> CreateKeyForm:
    """A fresh create form after a successful creation."""
    form = create_form()
    form.name.data = ""
    return form


@bp.post("/<id:key_id>/revoke")
@login_required
def revoke(key_id: int) -> Response:
    """Revoke a key: admins any key of the organization, members their own.

    :raise 404: if the key is not one the user may see.
    """
    key = db.one_or_404(visible_keys_query().filter_by(id=key_id))
    if not RevokeKeyForm().validate_on_submit():
        abort(400)
    api_keys.revoke_api_key(key, actor=current_user)
    flash(f"Key {key.name} was revoked.", "success")
    return redirect(url_for("api_keys.index"))
