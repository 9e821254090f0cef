"""Views of the groups blueprint."""

from __future__ import annotations

from flask import current_app
from flask import render_template
from flask_login import current_user
from flask_login import login_required

from blueprints.groups import bp
from core.extensions import db
from core.models import Group
from core.models import GroupMember
from core.models import User
from core.params import query_page


@bp.get("")
@login_required
def index() -> str:
    """List the organization's groups with their member counts."""
    rows = db.session.execute(
        db.select(Group, db.func.count(GroupMember.user_id))
        .outerjoin(GroupMember, GroupMember.group_id == Group.id)
        .where(Group.organization_id == current_user.organization_id)
        .group_by(Group.id)
        .order_by(Group.display_name_key)
    ).all()
    return render_template("groups/index.html", rows=rows)


@bp.get("/<id:group_id>")
@login_required
def show(group_id: int) -> str:
    """One group and its members, paged.

    :raise 404: if the group is not in the signed-in user's organization.
    """
    group = db.one_or_404(
        db.select(Group).filter_by(
            id=group_id, organization_id=current_user.organization_id
        )
    )
    per_page = current_app.config["MEMBERS_PER_PAGE"]
    query = (
        db.select(User)
        .join(GroupMember, GroupMember.user_id == User.id)
        .where(GroupMember.group_id == group.id)
    )
    total = db.session.execute(
        query.with_only_columns(db.func.count()).order_by(None)
    ).scalar_one()
    pages = max(1, -(-total // per_page))
    page = min(max(1, query_page()), pages)
    members = (
        db.session.execute(
            query.order_by(User.email_key).limit(per_page).offset((page - 1) * per_page)
        )
        .scalars()
        .all()
    )
    return render_template(
        "groups/show.html",
        group=group,
        members=members,
        total=total,
        page=page,
        pages=pages,
    )
