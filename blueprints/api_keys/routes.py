"""Views of the api_keys blueprint.

What a person may create is decided by core.authority (through
core.provisioning.api_keys.create_api_key); the form only leaves out what would be
refused. Creating a key answers with a redirect (Post/Redirect/Get), so a reload
of the page it lands on creates nothing; that page shows the new secret once.
"""

from __future__ import annotations

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_required
from werkzeug.wrappers import Response

from blueprints.api_keys import bp
from blueprints.api_keys.forms import DEFAULT_SCOPES
from blueprints.api_keys.forms import CreateKeyForm
from blueprints.api_keys.forms import RevokeKeyForm
from blueprints.scim.http import SCIM_PATH
from core.authority import AccountError
from core.authority import Actor
from core.authority import Conflict
from core.extensions import db
from core.key_authority import key_creation_problem
from core.key_authority import key_warning
from core.models import ApiKey
from core.models import parse_row_id
from core.provisioning import api_keys
from core.urls import MISSING_HELP
from core.urls import public_base_url


def visible_keys_query():  # type: ignore[no-untyped-def]
    """Keys the signed-in user may see: all of the organization's for admins,
    their own personal keys for members."""
    query = db.select(ApiKey).filter_by(organization_id=current_user.organization_id)
    if not current_user.is_admin:
        query = query.filter_by(user_id=current_user.id)
    return query


def create_form() -> CreateKeyForm:
    """The create form: only the scopes, kinds and roles the user may choose.

    An owner or admin starts from an organization key: the form's scope is
    scim, and a key for Okta should outlive the person who made it.
    """
    may_make_org_keys = current_user.is_admin
    default_scim = "scim" in DEFAULT_SCOPES
    form = CreateKeyForm(
        kind="organization" if may_make_org_keys and default_scim else "personal"
    )
    actor = Actor.of_user(current_user)
    form.scopes.choices = [
        choice
        for choice in form.scopes.choices
        if not key_creation_problem(
            actor, scopes=[choice.value], personal=True, role=None
        )
    ]
    if not may_make_org_keys:
        form.kind.choices = [form.kind.choices[0]]
    if current_user.role != "owner":
        form.role.choices = [form.role.choices[0]]
    return form


def new_key_display(key_id: int | None):  # type: ignore[no-untyped-def]
    """What the landing page of a creation shows: the key, and its secret the
    first time only (None when there is no such visible key)."""
    if key_id is None:
        return None
    key = db.session.execute(
        visible_keys_query().filter_by(id=key_id)
    ).scalar_one_or_none()
    if key is None:
        return None
    secret = api_keys.take_new_secret(key.id, current_user.session_token)
    base = public_base_url()
    return {
        "key": key,
        "secret": secret,
        "scim": "scim" in key.scope_list,
        "scim_url": base + SCIM_PATH if base else None,
        "missing_url_help": MISSING_HELP,
    }


def render_index(form: CreateKeyForm, *, new_key=None, status: int = 200):  # type: ignore[no-untyped-def]
    """Render the keys page (with a new key's one-time box, when given)."""
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
            new_key=new_key,
        ),
        status,
    )


@bp.get("")
@login_required
def index():  # type: ignore[no-untyped-def]
    """List keys and offer to create one; after a creation (`?created=<id>`),
    the new key's secret, this once."""
    created = parse_row_id(request.args.get("created", ""))
    return render_index(create_form(), new_key=new_key_display(created))


@bp.post("")
@login_required
def create():  # type: ignore[no-untyped-def]
    """Create a key, then send the browser to the page that shows its secret."""
    form = create_form()
    if not form.scopes.choices:
        abort(403)
    if not form.validate_on_submit():
        return render_index(form, status=400)
    personal = form.kind.data != "organization"
    try:
        key, _secret = api_keys.create_api_key(
            current_user.organization,
            name=form.name.data,
            scopes=form.scopes.data,
            user=current_user if personal else None,
            actor=current_user,
            role=None if personal else form.role.data,
            reveal_to_session=current_user.session_token,
        )
    except Conflict as exc:
        form.name.errors = [*form.name.errors, str(exc)]
        return render_index(form, status=400)
    except AccountError as exc:
        form.form_errors.append(str(exc))
        return render_index(form, status=400)
    flash(f"Key “{key.name}” created.", "success")
    return redirect(url_for("api_keys.index", created=key.id), code=303)


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
    flash(f"Key “{key.name}” revoked.", "success")
    return redirect(url_for("api_keys.index"))
